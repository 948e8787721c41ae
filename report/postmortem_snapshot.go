package report

import (
	"cmp"
	"slices"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// ResultFromSnapshot rebuilds the result a snapshot was made from, as far
// as it stores it: requests, stages, operations and groups with their
// distributions, inputs, window and warnings. A snapshot keeps no traces,
// so the tail anatomy, the missing-instrumentation figures and exemplar
// waterfalls are not in it: their sections are left out of the report.
func ResultFromSnapshot(s *snapshot.Snapshot, pct []float64) *analyze.Result {
	if len(pct) == 0 {
		pct = analyze.DefaultPercentiles
	}
	r := &analyze.Result{
		Percentiles: pct, TracesRead: int(s.TracesRead), Traces: int(s.Traces), Spans: int(s.Spans),
		Inputs: slices.Clone(s.Inputs), Warnings: slices.Clone(s.Warnings), GroupBy: s.GroupBy,
	}
	if s.Window != nil {
		r.WindowStart, r.WindowEnd = s.Window.Start, s.Window.End
	}
	r.Requests, r.TotalRequestNs, r.Stages, r.Operations, r.TotalSelfNs = pmScope(&s.Requests, s.Stages, s.Operations, pct)
	for i := range s.Groups {
		g := &s.Groups[i]
		gs := analyze.GroupStats{Key: s.GroupBy, Value: g.Value, Missing: g.Missing}
		gs.Requests, gs.TotalRequestNs, gs.Stages, gs.Operations, _ = pmScope(&g.Requests, g.Stages, g.Operations, pct)
		r.Groups = append(r.Groups, gs)
	}
	return r
}

// pmDist rebuilds an analysis distribution from a stored one: the same
// histogram, so the same quantiles, and the same exact figures.
func pmDist(d *snapshot.Dist) analyze.Dist {
	out := analyze.Dist{Count: d.Count, SumNs: d.SumNs, MinNs: d.MinNs, MaxNs: d.MaxNs, OverRange: d.OverRange}
	if d.Count > 0 {
		h := analyze.NewHistogram()
		for us, n := range d.Buckets() {
			_ = h.RecordValues(us, n)
		}
		out.Hist = h
	}
	return out
}

func pmExemplarIDs(d *snapshot.Dist) []string {
	var out []string
	for _, e := range d.Exemplars {
		out = append(out, e.TraceID)
	}
	return out
}

func pmScope(rq *snapshot.Requests, stages []snapshot.Stage, ops []snapshot.Operation, pct []float64) (analyze.RequestStats, int64, []analyze.StageStats, []analyze.OperationStats, int64) {
	req := pmDist(&rq.Latency)
	rs := analyze.RequestStats{Dist: req, Summary: req.Summarize(pct), Errors: rq.Errors, Exemplars: pmExemplarIDs(&rq.Latency)}
	total := rq.Latency.SumNs
	share := func(d *analyze.Dist) []float64 {
		out := make([]float64, len(pct))
		for i, p := range pct {
			if q := req.QuantileNs(p); q > 0 {
				out[i] = float64(d.QuantileNs(p)) / float64(q)
			}
		}
		return out
	}
	ratio := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	var ss []analyze.StageStats
	for i := range stages {
		st := &stages[i]
		c, sf, du := pmDist(&st.CriticalPath), pmDist(&st.Self), pmDist(&st.Duration)
		ss = append(ss, analyze.StageStats{
			Stage: st.Name, Named: st.Named, Requests: st.Requests,
			CriticalPathDist: c, SelfDist: sf, DurationDist: du,
			CriticalPath: c.Summarize(pct), Self: sf.Summarize(pct), Duration: du.Summarize(pct),
			Share: ratio(st.CriticalPath.SumNs, total), ShareOfRequest: share(&c),
			Exemplars: pmExemplarIDs(&st.CriticalPath),
		})
	}
	slices.SortStableFunc(ss, func(a, b analyze.StageStats) int { return cmp.Compare(b.Share, a.Share) })
	var selfTotal int64
	for i := range ops {
		selfTotal += ops[i].Self.SumNs
	}
	var os []analyze.OperationStats
	for i := range ops {
		o := &ops[i]
		d, sf, c := pmDist(&o.Duration), pmDist(&o.Self), pmDist(&o.CriticalPath)
		os = append(os, analyze.OperationStats{
			Service: o.Service, Operation: o.Operation, Stage: o.Stage, Count: o.Count, Requests: o.Requests,
			DurationDist: d, SelfDist: sf, CriticalPathDist: c,
			Duration: d.Summarize(pct), Self: sf.Summarize(pct), CriticalPath: c.Summarize(pct),
			Errors: o.Errors, ErrorRate: ratio(o.Errors, o.Count),
			SelfShare: ratio(o.Self.SumNs, selfTotal), CriticalPathShare: ratio(o.CriticalPath.SumNs, total),
			ShareOfRequest: share(&c), Exemplars: pmExemplarIDs(&o.Duration),
		})
	}
	slices.SortStableFunc(os, func(a, b analyze.OperationStats) int {
		if c := cmp.Compare(b.SelfShare, a.SelfShare); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Operation, b.Operation)
	})
	return rs, total, ss, os, selfTotal
}
