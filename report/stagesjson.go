package report

import (
	"bytes"
	"math"
	"strconv"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// The stage parts of the JSON contract: fields added to schema version 1.

type stageJSON struct {
	Stage           string   `json:"stage"`
	Named           bool     `json:"named"`
	Requests        int64    `json:"requests"`
	CriticalPathMs  summary  `json:"critical_path_ms"`
	SelfMs          summary  `json:"self_ms"`
	DurationMs      summary  `json:"duration_ms"`
	UntracedMs      summary  `json:"untraced_ms"`
	Share           float64  `json:"share"`
	ShareOfRequest  shares   `json:"share_of_request"`
	UntracedShare   float64  `json:"untraced_share"`
	CountPerRequest countJS  `json:"count_per_request"`
	Exemplars       []string `json:"exemplars"`
}

type countJS struct {
	Mean float64 `json:"mean"`
	Max  int64   `json:"max"`
}

type bandJSON struct {
	Band            string       `json:"band"`
	FromPercentile  float64      `json:"from_percentile"`
	ToPercentile    float64      `json:"to_percentile"`
	Requests        bandRequests `json:"requests"`
	ShareOfLatency  float64      `json:"share_of_latency"`
	ShareOfRequests float64      `json:"share_of_requests"`
	UntracedShare   float64      `json:"untraced_share"`
	// Band rows carry the critical-path figures of the stages only.
	Stages []bandStageJSON `json:"stages"`
}

type bandStageJSON struct {
	Stage          string  `json:"stage"`
	Named          bool    `json:"named"`
	Requests       int64   `json:"requests"`
	CriticalPathMs summary `json:"critical_path_ms"`
	Share          float64 `json:"share"`
	ShareOfRequest shares  `json:"share_of_request"`
}

type bandRequests struct {
	Count      int64   `json:"count"`
	DurationMs summary `json:"duration_ms"`
}

type groupJSON struct {
	Key        string          `json:"key"`
	Value      *string         `json:"value"` // null for the requests without the key
	Requests   requestJSON     `json:"requests"`
	Stages     []stageJSON     `json:"stages"`
	Operations []operationJSON `json:"operations"`
}

type skewJSON struct {
	Service    string  `json:"service"`
	Adjusted   int64   `json:"adjusted"`
	Exceeded   int64   `json:"exceeded"`
	MaxShiftMs float64 `json:"max_shift_ms"`
}

// shares marshals per-percentile fractions as {"p50": 0.71, …}.
type shares struct {
	pct []float64
	v   []float64
}

func (s shares) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range s.pct {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(analyze.PercentileKey(p)))
		b.WriteByte(':')
		v := 0.0
		if i < len(s.v) {
			v = s.v[i]
		}
		b.WriteString(strconv.FormatFloat(round6(v), 'f', -1, 64))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func nsMs(ns int64) float64 { return math.Round(float64(ns)/1000) / 1000 }

func stagesJSON(r *analyze.Result, stages []analyze.StageStats) []stageJSON {
	out := make([]stageJSON, 0, len(stages))
	for _, s := range stages {
		out = append(out, stageJSON{
			Stage: s.Stage, Named: s.Named, Requests: s.Requests,
			CriticalPathMs:  summary{r.Percentiles, s.CriticalPath},
			SelfMs:          summary{r.Percentiles, s.Self},
			DurationMs:      summary{r.Percentiles, s.Duration},
			UntracedMs:      summary{r.Percentiles, s.Untraced},
			Share:           round6(s.Share),
			ShareOfRequest:  shares{r.Percentiles, s.ShareOfRequest},
			UntracedShare:   round6(s.UntracedShare),
			CountPerRequest: countJS{Mean: round6(s.CountMean), Max: s.CountMax},
			Exemplars:       nonNil(s.Exemplars),
		})
	}
	return out
}

func operationsJSON(r *analyze.Result, ops []analyze.OperationStats) []operationJSON {
	out := make([]operationJSON, 0, len(ops))
	for _, o := range ops {
		out = append(out, operationJSON{
			Service: o.Service, Operation: o.Operation, Count: o.Count,
			DurationMs: summary{r.Percentiles, o.Duration},
			SelfMs:     summary{r.Percentiles, o.Self},
			Errors:     o.Errors, ErrorRate: round6(o.ErrorRate), SelfShare: round6(o.SelfShare),
			Exemplars: nonNil(o.Exemplars),
			Stage:     o.Stage, Requests: o.Requests,
			CriticalPathMs:    summary{r.Percentiles, o.CriticalPath},
			CriticalPathShare: round6(o.CriticalPathShare),
			ShareOfRequest:    shares{r.Percentiles, o.ShareOfRequest},
		})
	}
	return out
}

func bandsJSON(r *analyze.Result) []bandJSON {
	out := make([]bandJSON, 0, len(r.Bands))
	for _, b := range r.Bands {
		out = append(out, bandJSON{
			Band: b.Name, FromPercentile: b.From, ToPercentile: b.To,
			Requests:        bandRequests{Count: b.Requests.Count, DurationMs: summary{r.Percentiles, b.Requests}},
			ShareOfLatency:  round6(b.ShareOfLatency),
			ShareOfRequests: round6(b.ShareOfRequests),
			UntracedShare:   round6(b.UntracedShare),
			Stages:          bandStagesJSON(r, b.Stages),
		})
	}
	return out
}

func requestJSONOf(r *analyze.Result, rq analyze.RequestStats) requestJSON {
	return requestJSON{
		Count:      rq.Summary.Count,
		DurationMs: summary{r.Percentiles, rq.Summary},
		Errors:     rq.Errors,
		ErrorRate:  rate(rq.Errors, rq.Summary.Count),
		Exemplars:  nonNil(rq.Exemplars),
	}
}

func groupsJSON(r *analyze.Result) []groupJSON {
	out := make([]groupJSON, 0, len(r.Groups))
	for _, g := range r.Groups {
		gj := groupJSON{Key: g.Key, Requests: requestJSONOf(r, g.Requests),
			Stages: stagesJSON(r, g.Stages), Operations: operationsJSON(r, g.Operations)}
		if !g.Missing {
			v := g.Value
			gj.Value = &v
		}
		out = append(out, gj)
	}
	return out
}

func skewJSONs(r *analyze.Result) []skewJSON {
	out := make([]skewJSON, 0, len(r.ClockSkew))
	for _, s := range r.ClockSkew {
		out = append(out, skewJSON{Service: s.Service, Adjusted: s.Adjusted, Exceeded: s.Exceeded, MaxShiftMs: nsMs(s.MaxShiftNs)})
	}
	return out
}

func bandStagesJSON(r *analyze.Result, stages []analyze.StageStats) []bandStageJSON {
	out := make([]bandStageJSON, 0, len(stages))
	for _, s := range stages {
		out = append(out, bandStageJSON{Stage: s.Stage, Named: s.Named, Requests: s.Requests,
			CriticalPathMs: summary{r.Percentiles, s.CriticalPath}, Share: round6(s.Share),
			ShareOfRequest: shares{r.Percentiles, s.ShareOfRequest}})
	}
	return out
}
