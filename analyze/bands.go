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

// bands builds the band scopes from the request logs: band b holds the
// requests with latency in (bound[b-1], bound[b]].
func (w *worker) bands(logs []*requestLog, req *Dist) ([]*scope, []int64) {
	bounds := make([]int64, len(Bands)) // in µs, from the histogram like every quantile
	for b, band := range Bands {
		bounds[b] = req.QuantileNs(band.To) / 1000
	}
	bounds[len(bounds)-1] = math.MaxInt64
	out := make([]*scope, len(Bands))
	for b := range out {
		out[b] = newScope(0, w.stages.numStages(), 0)
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
			for _, e := range entries {
				sa := &sc.stages[e.stage]
				cp := int64(e.cp) * 1000
				sa.cp.Record(cp)
				sa.cpSum += cp
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
