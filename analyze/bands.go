package analyze

import "math"

// requestLog keeps, per counted request, its latency, its untraced time
// and the critical-path time of each of its stages, in µs (8 bytes a
// stage), so that the latency bands, whose bounds are known only once
// every request is in, are built at the end without a histogram per band
// and stage during the pass. Band rows carry critical-path figures only.
type requestLog struct {
	dur, unt chunks[uint32]
	n        chunks[uint32] // stage entries per request, in order
	entries  chunks[stageEntry]
}

type stageEntry struct {
	stage, cp uint32
}

func micros(ns int64) uint32 {
	us := (max(ns, 0) + 500) / 1000
	return uint32(min(us, math.MaxUint32))
}

func (l *requestLog) add(dur, untraced int64, stages []int32, cp []int64) {
	l.dur.add(micros(dur))
	l.unt.add(micros(untraced))
	l.n.add(uint32(len(stages)))
	for _, st := range stages {
		l.entries.add(stageEntry{stage: uint32(st), cp: micros(cp[st])})
	}
}

// each calls fn per request with its stage entries.
func (l *requestLog) each(fn func(dur, unt uint32, entries []stageEntry)) {
	var buf []stageEntry
	dur, unt, n, ent := cursor[uint32]{l: &l.dur}, cursor[uint32]{l: &l.unt}, cursor[uint32]{l: &l.n}, cursor[stageEntry]{l: &l.entries}
	for range l.n.n {
		buf = buf[:0]
		for range n.next() {
			buf = append(buf, ent.next())
		}
		fn(dur.next(), unt.next(), buf)
	}
}

// Bands are the latency bands of the tail anatomy, by percentile of the
// end-to-end latency.
var Bands = []struct {
	Name     string
	From, To float64
}{
	{"p0-p50", 0, 50},
	{"p50-p95", 50, 95},
	{"p95-p99", 95, 99},
	{"p99+", 99, 100},
}

// MaxSideStages is how many stages bands and groups show: the largest by
// share of the latency; in bands the others are summed into one row,
// OtherStages. With many operations that no rule catches, each a stage of
// its own, this keeps bands and groups from multiplying them.
const MaxSideStages = 30

// OtherStages names the band row that sums the stages beyond MaxSideStages.
const OtherStages = "(other stages)"

// bands builds the band scopes from the request logs: band b holds the
// requests with latency in (bound[b-1], bound[b]]. Stages not in top are
// summed into the stage ID other.
func (w *worker) bands(logs []*requestLog, req *Dist, top []int32, other int32) ([]*scope, []int64) {
	inTop := make([]bool, w.stages.numStages()+1)
	for _, s := range top {
		inTop[s] = true
	}
	bounds := make([]int64, len(Bands)) // in µs, from the histogram like every quantile
	for b, band := range Bands {
		bounds[b] = req.QuantileNs(band.To) / 1000
	}
	bounds[len(bounds)-1] = math.MaxInt64
	out := make([]*scope, len(Bands))
	for b := range out {
		out[b] = newScope(0, w.stages.numStages()+1, 0)
	}
	for _, l := range logs {
		l.each(func(durUs, untUs uint32, entries []stageEntry) {
			b := 0
			for b < len(bounds)-1 && int64(durUs) > bounds[b] {
				b++
			}
			sc := out[b]
			d := int64(durUs) * 1000
			sc.req.Record(d)
			sc.totalNs += d
			sc.untraced.Record(int64(untUs) * 1000)
			sc.untSum += int64(untUs) * 1000
			rest := int64(-1)
			for _, e := range entries {
				cp := int64(e.cp) * 1000
				if !inTop[e.stage] {
					rest = max(rest, 0) + cp
					continue
				}
				sa := sc.stage(int32(e.stage))
				sa.cp.Record(cp)
				sa.cpSum += cp
				sa.requests++
			}
			if rest >= 0 {
				sa := sc.stage(other)
				sa.cp.Record(rest)
				sa.cpSum += rest
				sa.requests++
			}
		})
	}
	ns := make([]int64, len(bounds))
	for b := range bounds {
		ns[b] = bounds[b] * 1000
	}
	return out, ns
}
