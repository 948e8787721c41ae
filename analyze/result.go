package analyze

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
)

// result turns the merged worker (w, with the others in all for their
// request logs) into the Result.
func (w *worker) result(all []*worker) *Result {
	pct := w.opt.Percentiles
	w.prepareQuantiles(len(all))
	text := w.ds.TraceText
	top := w.top
	r := &Result{
		Percentiles:    pct,
		TracesRead:     w.tracesRead,
		Traces:         w.traces,
		Spans:          w.ds.Spans,
		Inputs:         w.ds.Inputs,
		TotalRequestNs: top.totalNs,
		MaxClockSkewNs: w.maxSkew,
	}
	r.Requests = requestStats(top, pct, text)
	if top.req.Count > 0 {
		r.WindowStart = time.Unix(0, top.minStart).UTC()
		r.WindowEnd = time.Unix(0, top.maxStart).UTC()
	}
	var over int64
	r.Operations, r.TotalSelfNs, over = w.operations(top, pct, text)
	over += top.req.OverRange

	// Stages, by share, and the bands in the same order.
	var order []int32 // stage IDs in the order of r.Stages
	r.Stages, order = w.stageStats(top, nil, pct, text)
	logs := make([]*requestLog, len(all))
	for i, o := range all {
		logs[i] = &o.log
	}
	// Bands and groups show the largest stages; bands sum the rest.
	side := order[:min(len(order), MaxSideStages)]
	bandRows := side
	other := int32(w.stages.numStages()) // the ID of OtherStages
	if len(order) > len(side) {
		bandRows = append(slices.Clip(side), other)
	}
	if top.req.Count > 0 {
		bands, bounds := w.bands(logs, &top.req, side, other)
		for b, sc := range bands {
			bs := BandStats{Name: Bands[b].Name, From: Bands[b].From, To: Bands[b].To, HighNs: bounds[b],
				RequestsDist: sc.req, Requests: sc.req.Summarize(pct), TotalRequestNs: sc.totalNs}
			if b > 0 {
				bs.LowNs = bounds[b-1]
			}
			if b == len(bands)-1 {
				bs.HighNs = top.req.MaxNs
			}
			bs.Stages, _ = w.stageStats(sc, bandRows, pct, nil)
			bs.ShareOfLatency = ratio(sc.totalNs, top.totalNs)
			bs.ShareOfRequests = ratio(sc.req.Count, top.req.Count)
			bs.UntracedShare = ratio(sc.untSum, sc.totalNs)
			bs.UntracedRequests = sc.untraced.Summarize(pct)
			r.Bands = append(r.Bands, bs)
		}
	}

	// Groups, by value; the traces without the key last.
	if w.groups != nil {
		r.GroupBy = w.opt.GroupBy
		for g, sc := range w.groups {
			if sc == nil || sc.req.Count == 0 {
				continue
			}
			gs := GroupStats{Key: w.opt.GroupBy, TotalRequestNs: sc.totalNs, Requests: requestStats(sc, pct, text)}
			if g < len(w.env.groups) {
				gs.Value = w.env.groups[g]
			} else {
				gs.Missing = true
			}
			gs.Stages, _ = w.stageStats(sc, side, pct, text)
			gs.Operations, _, _ = w.operations(sc, pct, text)
			r.Groups = append(r.Groups, gs)
		}
		slices.SortStableFunc(r.Groups, func(a, b GroupStats) int {
			if a.Missing != b.Missing {
				if a.Missing {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.Value, b.Value)
		})
	}

	r.Coverage = w.coverage(top, pct)
	for i, s := range w.skew {
		if s.Adjusted+s.Exceeded > 0 {
			s.Service = w.services[i]
			r.ClockSkew = append(r.ClockSkew, s)
		}
	}
	slices.SortFunc(r.ClockSkew, func(a, b SkewStats) int {
		if c := cmp.Compare(b.Adjusted+b.Exceeded, a.Adjusted+a.Exceeded); c != 0 {
			return c
		}
		return cmp.Compare(a.Service, b.Service)
	})
	if w.ruleUse != nil {
		r.Rules, r.Unmatched = w.ruleUsage()
	}

	var warn model.Warnings
	warn.Merge(&w.ds.Warnings)
	warn.Merge(&w.warn)
	if over > 0 {
		warn.AddKeyed(model.WarnOverRange, int(over), "", func() string {
			return "values longer than 1h were recorded as 1h in the histograms; max and mean stay exact"
		})
	}
	if w.noGroupKey > 0 {
		warn.AddKeyed(WarnGroupKeyMissing, w.noGroupKey, "", func() string {
			return fmt.Sprintf("%d request(s) have no %s attribute on any span; they form their own group", w.noGroupKey, w.opt.GroupBy)
		})
	}
	r.Warnings = warn.List()
	return r
}

func requestStats(sc *scope, pct []float64, text func(model.TraceID) string) RequestStats {
	return RequestStats{Dist: sc.req, Summary: sc.req.Summarize(pct), Errors: sc.reqErr, Exemplars: sc.req.Exemplars.ids(text)}
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// shareOfRequest divides each quantile of d by the same quantile of the
// requests' latency, reqQ (quantilesOf the request Dist, computed once).
func shareOfRequest(d *Dist, reqQ []int64, pct []float64) []float64 {
	out := make([]float64, len(pct))
	for i, p := range pct {
		out[i] = ratio(d.QuantileNs(p), reqQ[i])
	}
	return out
}

func quantilesOf(d *Dist, pct []float64) []int64 {
	out := make([]int64, len(pct))
	for i, p := range pct {
		out[i] = d.QuantileNs(p)
	}
	return out
}

// operations builds the operation rows of a scope, sorted by self share.
// It returns the total self time and the count of over-range values.
func (w *worker) operations(sc *scope, pct []float64, text func(model.TraceID) string) ([]OperationStats, int64, int64) {
	reqQ := quantilesOf(&sc.req, pct)
	var total, over int64
	for _, a := range sc.ops {
		if a != nil {
			total += a.selfSum
			over += a.dur.OverRange + a.self.OverRange
		}
	}
	var out []OperationStats
	for i, op := range w.ops {
		a := sc.ops[i]
		if a == nil || a.dur.Count == 0 {
			continue
		}
		d := &a.dur
		a.cp.RecordZeros(sc.req.Count - a.cp.Count)
		os := OperationStats{
			Service: op.Service, Operation: op.Name, Count: d.Count,
			DurationDist: *d, SelfDist: a.self,
			Duration: d.Summarize(pct), Self: a.self.Summarize(pct),
			Errors: a.errs, ErrorRate: ratio(a.errs, d.Count),
			Exemplars: d.Exemplars.ids(text),
			Stage:     w.opMainStage(i), Requests: a.requests,
			CriticalPathDist: a.cp, CriticalPath: a.cp.Summarize(pct),
			CriticalPathShare: ratio(a.cpSum, sc.totalNs),
			ShareOfRequest:    shareOfRequest(&a.cp, reqQ, pct),
		}
		if total > 0 {
			os.SelfShare = float64(a.selfSum) / float64(total)
		}
		out = append(out, os)
	}
	slices.SortStableFunc(out, func(a, b OperationStats) int {
		if c := cmp.Compare(b.SelfShare, a.SelfShare); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Operation, b.Operation)
	})
	return out, total, over
}

func (w *worker) opMainStage(op int) string {
	best := stageCount{-1, 0}
	for _, x := range w.opStage[op] {
		if x.n > best.n || (x.n == best.n && x.stage < best.stage) {
			best = x
		}
	}
	if best.stage < 0 {
		return ""
	}
	return w.stages.name(best.stage)
}

// stageStats builds the stage rows of a scope: in the given order (all of
// them, zeros included), or else every stage that occurs, by share. It
// returns the stage IDs of the rows too.
func (w *worker) stageStats(sc *scope, order []int32, pct []float64, text func(model.TraceID) string) ([]StageStats, []int32) {
	reqQ := quantilesOf(&sc.req, pct)
	ids := order
	if ids == nil {
		for s, a := range sc.stages {
			if a != nil && a.requests > 0 {
				ids = append(ids, int32(s))
			}
		}
	}
	type row struct {
		st StageStats
		id int32
	}
	rows := make([]row, 0, len(ids))
	for _, s := range ids {
		a := sc.stage(s)
		n := sc.req.Count
		a.cp.RecordZeros(n - a.cp.Count)
		a.self.RecordZeros(n - a.self.Count)
		a.dur.RecordZeros(n - a.dur.Count)
		a.unt.RecordZeros(n - a.unt.Count)
		st := StageStats{
			Stage: w.stages.name(s), Named: w.stages.named(s), Requests: a.requests,
			CriticalPathDist: a.cp, SelfDist: a.self, DurationDist: a.dur, UntracedDist: a.unt,
			CriticalPath: a.cp.Summarize(pct), Self: a.self.Summarize(pct),
			Duration: a.dur.Summarize(pct), Untraced: a.unt.Summarize(pct),
			Share: ratio(a.cpSum, sc.totalNs), ShareOfRequest: shareOfRequest(&a.cp, reqQ, pct),
			UntracedShare: ratio(a.untSum, sc.totalNs), UntracedShareOfRequest: shareOfRequest(&a.unt, reqQ, pct),
			CountMax: a.countMax,
		}
		if a.requests > 0 {
			st.CountMean = float64(a.spans) / float64(a.requests)
		}
		if text != nil {
			st.Exemplars = a.cp.Exemplars.ids(text)
		}
		rows = append(rows, row{st, s})
	}
	if order == nil {
		slices.SortStableFunc(rows, func(a, b row) int {
			if c := cmp.Compare(b.st.Share, a.st.Share); c != 0 {
				return c
			}
			return cmp.Compare(a.st.Stage, b.st.Stage)
		})
	}
	out := make([]StageStats, len(rows))
	outIDs := make([]int32, len(rows))
	for i, r := range rows {
		out[i], outIDs[i] = r.st, r.id
	}
	return out, outIDs
}

// coverage builds the untraced-time figures of the top scope.
func (w *worker) coverage(sc *scope, pct []float64) Coverage {
	reqQ := quantilesOf(&sc.req, pct)
	n := sc.req.Count
	c := Coverage{UntracedShare: ratio(sc.untSum, sc.totalNs), UntracedDist: sc.untraced, Untraced: sc.untraced.Summarize(pct)}
	c.ShareOfRequest = shareOfRequest(&sc.untraced, reqQ, pct)
	// The largest gap per parent operation.
	type gapTotal struct {
		k gapKey
		v int64
	}
	best := map[int32]gapTotal{}
	consider := func(k gapKey, v int64) {
		b, ok := best[k.parent]
		if !ok || v > b.v || (v == b.v && gapLess(k, b.k)) {
			best[k.parent] = gapTotal{k, v}
		}
	}
	w.gaps.each(func(p uint64, v int64) { consider(unpackGap(p), v) })
	for k, v := range w.gapsWide {
		consider(k, v)
	}
	opName := func(op int32) string {
		if op < 0 {
			return ""
		}
		return w.ops[op].Service + " " + w.ops[op].Name
	}
	for i, a := range sc.ops {
		if a == nil || a.untSum == 0 {
			continue // a parent that was never waited on for its own time
		}
		a.unt.RecordZeros(n - a.unt.Count)
		u := UntracedOp{
			Service: w.ops[i].Service, Operation: w.ops[i].Name, Stage: w.opMainStage(i),
			Requests: a.parentRequests, Dist: a.unt, Summary: a.unt.Summarize(pct),
			Share: ratio(a.untSum, sc.totalNs), ShareOfRequest: shareOfRequest(&a.unt, reqQ, pct),
		}
		if b, ok := best[int32(i)]; ok {
			k := b.k
			u.Gap = Gap{After: opName(k.after), Before: opName(k.before), Share: ratio(b.v, sc.totalNs)}
			if k.after >= 0 {
				u.Gap.AfterStage = w.opMainStage(int(k.after))
			}
			if k.before >= 0 {
				u.Gap.BeforeStage = w.opMainStage(int(k.before))
			}
		}
		c.Operations = append(c.Operations, u)
	}
	slices.SortStableFunc(c.Operations, func(a, b UntracedOp) int {
		if c := cmp.Compare(b.Share, a.Share); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Operation, b.Operation)
	})
	for s, name := range w.stages.names {
		if a := sc.stages[s]; a == nil || a.spans == 0 {
			c.MissingStages = append(c.MissingStages, name)
		}
	}
	return c
}

func gapLess(a, b gapKey) bool {
	if a.after != b.after {
		return a.after < b.after
	}
	return a.before < b.before
}

// ruleUsage lists, per rule, the operations whose spans it matched or
// passed its stage to, and the operations no rule caught.
func (w *worker) ruleUsage() ([]RuleUsage, []OpCount) {
	out := DescribeRules(w.stages.rules)
	var unmatched []OpCount
	for k, n := range w.ruleUse {
		oc := OpCount{Service: w.ops[k.op].Service, Operation: w.ops[k.op].Name, Spans: n}
		switch {
		case k.rule >= 0:
			out[k.rule].Matched = append(out[k.rule].Matched, oc)
		case k.rule == ruleUnmatched:
			unmatched = append(unmatched, oc)
		default:
			r := -2 - k.rule
			out[r].Inherited = append(out[r].Inherited, oc)
		}
	}
	sortOps := func(s []OpCount) {
		slices.SortFunc(s, func(a, b OpCount) int {
			if c := cmp.Compare(b.Spans, a.Spans); c != 0 {
				return c
			}
			if c := cmp.Compare(a.Service, b.Service); c != 0 {
				return c
			}
			return cmp.Compare(a.Operation, b.Operation)
		})
	}
	for i := range out {
		sortOps(out[i].Matched)
		sortOps(out[i].Inherited)
	}
	sortOps(unmatched)
	return out, unmatched
}

// prepareQuantiles computes the quantiles of every distribution of the
// top scope and the groups, on n goroutines: finding them is the one
// serial step left after the workers merge, and its cost grows with the
// number of spans. It first adds the zeros for requests without an
// operation or stage exactly as operations, stageStats and coverage do (a
// second RecordZeros then adds none). Each Dist is prepared by one
// goroutine, since memos are not safe for concurrent use; the result then
// reads memoized values.
func (w *worker) prepareQuantiles(n int) {
	var dists []*Dist
	add := func(sc *scope, top bool) {
		if sc == nil {
			return
		}
		reqs := sc.req.Count
		dists = append(dists, &sc.req, &sc.untraced)
		for _, a := range sc.ops {
			if a == nil || a.dur.Count == 0 {
				continue
			}
			a.cp.RecordZeros(reqs - a.cp.Count)
			dists = append(dists, &a.dur, &a.self, &a.cp)
			if top && a.untSum != 0 {
				a.unt.RecordZeros(reqs - a.unt.Count)
				dists = append(dists, &a.unt)
			}
		}
		for _, a := range sc.stages {
			if a == nil || a.requests == 0 {
				continue
			}
			for _, d := range []*Dist{&a.cp, &a.self, &a.dur, &a.unt} {
				d.RecordZeros(reqs - d.Count)
				dists = append(dists, d)
			}
		}
	}
	add(w.top, true)
	for _, sc := range w.groups {
		add(sc, false)
	}
	// Largest first, so that no goroutine is left with a big one at the end.
	slices.SortFunc(dists, func(a, b *Dist) int { return cmp.Compare(b.Count, a.Count) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(dists)); i = next.Add(1) - 1 {
				if d := dists[i]; d.Count > 0 {
					d.Summarize(w.opt.Percentiles)
				}
			}
		})
	}
	wg.Wait()
}
