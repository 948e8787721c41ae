package report

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// SchemaVersion is the version of the breakdown JSON contract. Fields are
// only ever added; a rename or removal would need a new version.
const SchemaVersion = 1

// breakdownJSON is the v1 contract (README "JSON output").
type breakdownJSON struct {
	SchemaVersion int             `json:"schema_version"`
	Traces        int             `json:"traces"`
	Spans         int             `json:"spans"`
	Requests      requestJSON     `json:"requests"`
	Operations    []operationJSON `json:"operations"`
	Warnings      []warningJSON   `json:"warnings"`
	TracesRead    int             `json:"traces_read"`
	Window        *windowJSON     `json:"window,omitempty"`
	Inputs        []inputJSON     `json:"inputs"`
	Percentiles   []string        `json:"percentiles"`

	// Added with the stage breakdown (issue 5).
	Stages         []stageJSON `json:"stages"`
	Bands          []bandJSON  `json:"bands"`
	GroupBy        string      `json:"group_by,omitempty"`
	Groups         []groupJSON `json:"groups"`
	UntracedShare  float64     `json:"untraced_share"`
	MaxClockSkewMs float64     `json:"max_clock_skew_ms"`
	ClockSkew      []skewJSON  `json:"clock_skew"`
}

type requestJSON struct {
	Count      int64    `json:"count"`
	DurationMs summary  `json:"duration_ms"`
	Errors     int64    `json:"errors"`
	ErrorRate  float64  `json:"error_rate"`
	Exemplars  []string `json:"exemplars"`
}

type operationJSON struct {
	Service    string   `json:"service"`
	Operation  string   `json:"operation"`
	Count      int64    `json:"count"`
	DurationMs summary  `json:"duration_ms"`
	SelfMs     summary  `json:"self_ms"`
	Errors     int64    `json:"errors"`
	ErrorRate  float64  `json:"error_rate"`
	SelfShare  float64  `json:"self_share"`
	Exemplars  []string `json:"exemplars"`

	Stage             string  `json:"stage"`
	Requests          int64   `json:"requests"`
	CriticalPathMs    summary `json:"critical_path_ms"`
	CriticalPathShare float64 `json:"critical_path_share"`
	ShareOfRequest    shares  `json:"share_of_request"`
}

type warningJSON struct {
	Kind    string `json:"kind"`
	Count   int    `json:"count"`
	Example string `json:"example"`
}

type windowJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

type inputJSON struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Spans  int    `json:"spans"`
}

// summary marshals as an object whose keys follow the requested
// percentiles, then max and mean, in that order.
type summary struct {
	pct []float64
	s   analyze.Summary
}

func (m summary) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range m.pct {
		b.WriteString(strconv.Quote(analyze.PercentileKey(p)))
		b.WriteByte(':')
		b.WriteString(msNumber(m.s.Quantiles[i]))
		b.WriteByte(',')
	}
	b.WriteString(`"max":`)
	b.WriteString(msNumber(m.s.Max))
	b.WriteString(`,"mean":`)
	b.WriteString(msNumber(m.s.Mean))
	b.WriteByte('}')
	return b.Bytes(), nil
}

// msNumber writes milliseconds with microsecond precision and no exponent.
func msNumber(ms float64) string {
	return strconv.FormatFloat(ms, 'f', -1, 64)
}

// JSON writes the breakdown as the versioned JSON contract.
func JSON(w io.Writer, r *analyze.Result) error {
	out := breakdownJSON{
		SchemaVersion: SchemaVersion,
		Traces:        r.Traces,
		TracesRead:    r.TracesRead,
		Spans:         r.Spans,
		Requests: requestJSON{
			Count:      r.Requests.Summary.Count,
			DurationMs: summary{r.Percentiles, r.Requests.Summary},
			Errors:     r.Requests.Errors,
			ErrorRate:  rate(r.Requests.Errors, r.Requests.Summary.Count),
			Exemplars:  nonNil(r.Requests.Exemplars),
		},
		Operations: operationsJSON(r, r.Operations),
		Warnings:   []warningJSON{},
		Inputs:     []inputJSON{},
		Stages:     stagesJSON(r, r.Stages),
		Bands:      bandsJSON(r),
		GroupBy:    r.GroupBy,
		Groups:     groupsJSON(r),

		UntracedShare:  round6(r.Coverage.UntracedShare),
		MaxClockSkewMs: nsMs(r.MaxClockSkewNs),
		ClockSkew:      skewJSONs(r),
	}
	for _, p := range r.Percentiles {
		out.Percentiles = append(out.Percentiles, analyze.PercentileKey(p))
	}
	for _, wc := range r.Warnings {
		out.Warnings = append(out.Warnings, warningJSON(wc))
	}
	for _, in := range r.Inputs {
		out.Inputs = append(out.Inputs, inputJSON(in))
	}
	if !r.WindowStart.IsZero() {
		out.Window = &windowJSON{Start: r.WindowStart, End: r.WindowEnd}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return round6(float64(n) / float64(of))
}

func round6(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 6, 64), 64)
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
