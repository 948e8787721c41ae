package analyze

import "math"

// requestLog keeps, per counted request, its latency and its per-stage
// figures in µs (24 bytes a stage), so that the latency bands, whose
// bounds are known only once every request is in, are built at the end
// without a histogram per band and stage during the pass.
type requestLog struct {
	reqs    []reqRecord
	entries []stageEntry
}

type reqRecord struct {
	durUs, untUs uint32
	first, n     uint32 // entries[first:first+n]
}

type stageEntry struct {
	stage, count         uint32
	cp, self, dur, untUs uint32
}

func micros(ns int64) uint32 {
	us := (max(ns, 0) + 500) / 1000
	return uint32(min(us, math.MaxUint32))
}

func (l *requestLog) begin(dur int64) int {
	l.reqs = append(l.reqs, reqRecord{durUs: micros(dur), first: uint32(len(l.entries))})
	return len(l.reqs) - 1
}

func (l *requestLog) add(rec int, stage int32, count, cp, self, dur, unt int64) {
	l.entries = append(l.entries, stageEntry{stage: uint32(stage), count: uint32(min(count, math.MaxUint32)),
		cp: micros(cp), self: micros(self), dur: micros(dur), untUs: micros(unt)})
	l.reqs[rec].n++
}

func (l *requestLog) end(rec int, untraced int64) { l.reqs[rec].untUs = micros(untraced) }

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
		for _, r := range l.reqs {
			b := 0
			for b < len(bounds)-1 && int64(r.durUs) > bounds[b] {
				b++
			}
			sc := out[b]
			d := int64(r.durUs) * 1000
			sc.req.Record(d)
			sc.totalNs += d
			sc.untraced.Record(int64(r.untUs) * 1000)
			sc.untSum += int64(r.untUs) * 1000
			for _, e := range l.entries[r.first : r.first+r.n] {
				sa := &sc.stages[e.stage]
				cp := int64(e.cp) * 1000
				sa.cp.Record(cp)
				sa.self.Record(int64(e.self) * 1000)
				sa.dur.Record(int64(e.dur) * 1000)
				sa.cpSum += cp
				sa.selfSum += int64(e.self) * 1000
				sa.requests++
				sa.spans += int64(e.count)
				sa.countMax = max(sa.countMax, int64(e.count))
				if e.untUs > 0 {
					sa.unt.Record(int64(e.untUs) * 1000)
					sa.untSum += int64(e.untUs) * 1000
					sa.parentRequests++
				}
			}
		}
	}
	ns := make([]int64, len(bounds))
	for b := range bounds {
		ns[b] = bounds[b] * 1000
	}
	return out, ns
}
