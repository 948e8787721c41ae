package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// Waterfall bar cells: the critical path, the rest of a span, a span that
// is not waited for.
const (
	barPath  = '█'
	barSpan  = '─'
	barAsync = '┄'
)

// ExplainTable writes one trace as a terminal waterfall (indentation by
// depth, bars scaled to width columns, the critical path marked) and its
// stage breakdown.
func ExplainTable(w io.Writer, x *analyze.Explanation, width int) error {
	fmt.Fprintln(w, explainHeadline(x))
	fmt.Fprintln(w)
	writeWaterfall(w, x, width)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Stages of this request")
	head, rows := traceStageRows(x)
	if err := renderTable(w, head, rows, 1); err != nil {
		return err
	}
	writeExplainWarnings(w, x)
	return nil
}

// ExplainMarkdown writes the same as Markdown: the waterfall in a code
// block, the stages as a table.
func ExplainMarkdown(w io.Writer, x *analyze.Explanation, width int) error {
	fmt.Fprintf(w, "## Trace `%s`\n\n%s\n\n```\n", x.TraceID, explainHeadline(x))
	writeWaterfall(w, x, width)
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w, "\n### Stages of this request")
	fmt.Fprintln(w)
	head, rows := traceStageRows(x)
	mdTable(w, head, rows, 1)
	if len(x.Warnings) > 0 {
		fmt.Fprintln(w, "\n### Data quality")
		fmt.Fprintln(w)
		var rows [][]string
		for _, wc := range x.Warnings {
			rows = append(rows, []string{wc.Kind, strconv.Itoa(wc.Count), wc.Example})
		}
		mdTable(w, []string{"warning", "count", "example"}, rows, 1)
	}
	return nil
}

func explainHeadline(x *analyze.Explanation) string {
	if x.Root < 0 {
		return fmt.Sprintf("trace %s: %d spans, no root span (a partial trace): no critical path", x.TraceID, len(x.Spans))
	}
	r := x.Spans[x.Root]
	return fmt.Sprintf("trace %s: %s %s, %s end to end, %d spans; %s untraced (parents' own time on the critical path)",
		x.TraceID, r.Service, r.Operation, Duration(nsToMs(x.DurationNs)), len(x.Spans), Percent(x.UntracedShare))
}

func nsToMs(ns int64) float64 { return float64(ns) / 1e6 }

// writeWaterfall draws one line per span: start offset, duration,
// critical-path time, stage, the span indented by depth, and its bar.
func writeWaterfall(w io.Writer, x *analyze.Explanation, width int) {
	if width <= 0 {
		width = 120
	}
	type line struct{ start, dur, path, stage, name string }
	lines := make([]line, len(x.Spans))
	wStart, wDur, wPath, wStage, wName := len("start"), len("duration"), len("on path"), len("stage"), len("span")
	for i, s := range x.Spans {
		name := strings.Repeat("  ", min(s.Depth, 20)) + s.Service + " " + s.Operation
		if s.Async {
			name += " (async)"
		}
		if s.Detached {
			name += " (not under the root)"
		}
		if s.Error {
			name += " !"
		}
		path := "-"
		if s.CriticalPathNs > 0 {
			path = Duration(nsToMs(s.CriticalPathNs))
		}
		lines[i] = line{Duration(nsToMs(s.OffsetNs)), Duration(nsToMs(s.DurationNs)), path, s.Stage, truncate(name, 60)}
		if s.OffsetNs < 0 {
			lines[i].start = "-" + Duration(nsToMs(-s.OffsetNs))
		}
		wStart, wDur, wPath = max(wStart, len(lines[i].start)), max(wDur, len(lines[i].dur)), max(wPath, len(lines[i].path))
		wStage = max(wStage, utf8.RuneCountInString(lines[i].stage))
		wName = max(wName, utf8.RuneCountInString(lines[i].name))
	}
	wStage = min(wStage, 28)
	left := wStart + wDur + wPath + wStage + wName + 5*2 + 2 // separators and the bar's edges
	bar := max(width-left, 20)
	pad := func(s string, n int, right bool) string {
		s = truncate(s, n)
		fill := strings.Repeat(" ", max(n-utf8.RuneCountInString(s), 0))
		if right {
			return fill + s
		}
		return s + fill
	}
	fmt.Fprintf(w, "%s  %s  %s  %s  %s  %s\n", pad("start", wStart, true), pad("duration", wDur, true), pad("on path", wPath, true),
		pad("stage", wStage, false), pad("span", wName, false), fmt.Sprintf("%c critical path  %c span  %c not waited for", barPath, barSpan, barAsync))
	span := float64(x.DurationNs)
	if x.Root < 0 || span <= 0 {
		span = 1
		for _, s := range x.Spans {
			span = max(span, float64(s.OffsetNs+s.DurationNs))
		}
	}
	col := func(ns int64) int { return int(math.Floor(float64(ns) / span * float64(bar))) }
	for i, s := range x.Spans {
		l := lines[i]
		cells := []rune(strings.Repeat(" ", bar))
		from, to := col(s.OffsetNs), col(s.OffsetNs+s.DurationNs)
		mark := barSpan
		if s.Async || s.Detached {
			mark = barAsync
		}
		for c := max(from, 0); c <= min(to, bar-1); c++ {
			cells[c] = mark
		}
		for _, sl := range s.Slices {
			a, b := col(sl[0]), col(sl[1])
			if b == a && sl[1] > sl[0] {
				b = a + 1 // every slice shows
			}
			for c := max(a, 0); c < min(b, bar); c++ {
				cells[c] = barPath
			}
		}
		edgeL, edgeR := '|', '|'
		if s.OffsetNs < 0 {
			edgeL = '<' // starts before the request
		}
		if float64(s.OffsetNs+s.DurationNs) > span {
			edgeR = '>' // ends after it
		}
		fmt.Fprintf(w, "%s  %s  %s  %s  %s  %c%s%c\n", pad(l.start, wStart, true), pad(l.dur, wDur, true), pad(l.path, wPath, true),
			pad(l.stage, wStage, false), pad(l.name, wName, false), edgeL, string(cells), edgeR)
	}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func traceStageRows(x *analyze.Explanation) ([]string, [][]string) {
	head := []string{"stage", "on path", "share", "self", "inclusive", "spans"}
	var rows [][]string
	for _, s := range x.Stages {
		name := s.Stage
		if !s.Named {
			name += " (no rule)"
		}
		rows = append(rows, []string{name, Duration(nsToMs(s.CriticalPathNs)), Percent(s.Share),
			Duration(nsToMs(s.SelfNs)), Duration(nsToMs(s.DurationNs)), strconv.Itoa(s.Spans)})
	}
	return head, rows
}

func writeExplainWarnings(w io.Writer, x *analyze.Explanation) {
	if len(x.Warnings) == 0 {
		return
	}
	fmt.Fprintln(w, "\nData quality")
	for _, wc := range x.Warnings {
		fmt.Fprintf(w, "  %-18s %6d  e.g. %s\n", wc.Kind, wc.Count, wc.Example)
	}
}

type explainJSON struct {
	SchemaVersion int               `json:"schema_version"`
	TraceID       string            `json:"trace_id"`
	DurationMs    float64           `json:"duration_ms"`
	UntracedMs    float64           `json:"untraced_ms"`
	UntracedShare float64           `json:"untraced_share"`
	Spans         []explainSpanJSON `json:"spans"`
	Stages        []traceStageJSON  `json:"stages"`
	Warnings      []warningJSON     `json:"warnings"`
}

type explainSpanJSON struct {
	SpanID         string       `json:"span_id"`
	ParentSpanID   string       `json:"parent_span_id,omitempty"`
	Depth          int          `json:"depth"`
	Service        string       `json:"service"`
	Operation      string       `json:"operation"`
	Kind           string       `json:"kind"`
	Stage          string       `json:"stage"`
	StartMs        float64      `json:"start_ms"`
	DurationMs     float64      `json:"duration_ms"`
	SelfMs         float64      `json:"self_ms"`
	CriticalPathMs float64      `json:"critical_path_ms"`
	CriticalPath   [][2]float64 `json:"critical_path"`
	Error          bool         `json:"error"`
	Async          bool         `json:"async"`
	Detached       bool         `json:"detached"`
	ClockShiftMs   float64      `json:"clock_shift_ms"`
}

type traceStageJSON struct {
	Stage          string  `json:"stage"`
	Named          bool    `json:"named"`
	CriticalPathMs float64 `json:"critical_path_ms"`
	SelfMs         float64 `json:"self_ms"`
	DurationMs     float64 `json:"duration_ms"`
	Spans          int     `json:"spans"`
	Share          float64 `json:"share"`
}

// ExplainJSON writes an explained trace as JSON; times are milliseconds
// from the root's start.
func ExplainJSON(w io.Writer, x *analyze.Explanation) error {
	out := explainJSON{SchemaVersion: SchemaVersion, TraceID: x.TraceID, DurationMs: nsMs(x.DurationNs), UntracedMs: nsMs(x.UntracedNs), UntracedShare: round6(x.UntracedShare),
		Spans: []explainSpanJSON{}, Stages: []traceStageJSON{}, Warnings: []warningJSON{}}
	for _, s := range x.Spans {
		sj := explainSpanJSON{SpanID: s.SpanID, ParentSpanID: s.ParentID, Depth: s.Depth, Service: s.Service, Operation: s.Operation,
			Kind: s.Kind, Stage: s.Stage, StartMs: nsMs(s.OffsetNs), DurationMs: nsMs(s.DurationNs), SelfMs: nsMs(s.SelfNs),
			CriticalPathMs: nsMs(s.CriticalPathNs), CriticalPath: [][2]float64{}, Error: s.Error, Async: s.Async,
			Detached: s.Detached, ClockShiftMs: nsMs(s.ShiftNs)}
		for _, sl := range s.Slices {
			sj.CriticalPath = append(sj.CriticalPath, [2]float64{nsMs(sl[0]), nsMs(sl[1])})
		}
		out.Spans = append(out.Spans, sj)
	}
	for _, s := range x.Stages {
		out.Stages = append(out.Stages, traceStageJSON{Stage: s.Stage, Named: s.Named, CriticalPathMs: nsMs(s.CriticalPathNs),
			SelfMs: nsMs(s.SelfNs), DurationMs: nsMs(s.DurationNs), Spans: s.Spans, Share: round6(s.Share)})
	}
	for _, wc := range x.Warnings {
		out.Warnings = append(out.Warnings, warningJSON(wc))
	}
	return encodeJSON(w, out)
}
