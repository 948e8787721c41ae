package analyze

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"

	"github.com/trace-forensics/trace-forensics/model"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range and precision (ANALYSIS.md): values in microseconds from
// 1 µs to 1 hour, 3 significant digits, so any quantile is within 0.1 %.
const (
	histLowest  = 1
	histHighest = 3600 * 1000 * 1000
	histSigFigs = 3
)

// NewHistogram returns an empty histogram with the project's range and
// precision; every histogram in a result has them, so any two merge exactly.
func NewHistogram() *hdr.Histogram { return hdr.New(histLowest, histHighest, histSigFigs) }

// Dist accumulates one latency distribution: the HDR histogram for
// quantiles, exact count, sum, min and max beside it, and the slowest
// requests as exemplars. Copies share storage: read copies, record into
// one. Quantiles are memoized, so even reading is not safe for concurrent
// use.
//
// A histogram costs about 188 KB whatever it holds, so a Dist keeps its
// first values (in µs, as the histogram would) in a plain slice and builds
// the histogram only when they outgrow it. Quantiles are the same either
// way: they are computed with the histogram's own bucket arithmetic.
type Dist struct {
	Hist      *hdr.Histogram // nil while the values are kept exactly; see Histogram
	Count     int64
	SumNs     int64
	MinNs     int64
	MaxNs     int64
	OverRange int64 // values above the histogram's range, recorded at its maximum
	Exemplars exemplars

	raw    chunks[uint32] // µs values while Hist is nil
	zeros  int64          // zero values while Hist is nil, not in raw
	sorted bool           // raw is one sorted chunk
	memo   []quantileMemo // quantiles computed since the last change
}

type quantileMemo struct {
	q  float64
	us int64
}

// rawMax is how many values a Dist keeps before it builds its histogram:
// 256 KB of values, about what a histogram (188 KB) costs.
const rawMax = 1 << 16

// sortMax is the most kept values whose quantiles are found by sorting
// them; for more, each quantile is found by selection, which is faster.
const sortMax = 4096

// toMicros converts to the histogram's unit, clamped to its range.
func (d *Dist) toMicros(ns int64) int64 {
	if ns < 0 {
		ns = 0
	}
	us := (ns + 500) / 1000
	if us > histHighest {
		us = histHighest
		d.OverRange++
	}
	return us
}

func (d *Dist) add(us int64) {
	d.memo = nil
	if d.Hist != nil {
		// RecordValue fails only outside the range, which was excluded.
		_ = d.Hist.RecordValue(us)
		return
	}
	d.raw.add(uint32(us))
	d.sorted = false
	if d.raw.n > rawMax {
		d.buildHist()
	}
}

// buildHist moves the kept values into a new histogram.
func (d *Dist) buildHist() {
	d.Hist = d.Histogram()
	d.raw, d.zeros, d.sorted = chunks[uint32]{}, 0, false
}

// Histogram returns the distribution as an HDR histogram, which merges
// exactly with any other of the project's; a new one while the values are
// kept exactly.
func (d *Dist) Histogram() *hdr.Histogram {
	if d.Hist != nil {
		return d.Hist
	}
	h := NewHistogram()
	if d.zeros > 0 {
		_ = h.RecordValues(0, d.zeros)
	}
	d.raw.each(func(v uint32) { _ = h.RecordValue(int64(v)) })
	return h
}

// Record adds one value in nanoseconds.
func (d *Dist) Record(ns int64) {
	if ns <= 0 { // common (time off the path): counted, not stored
		d.RecordZeros(1)
		return
	}
	d.add(d.toMicros(ns))
	if d.Count == 0 || ns < d.MinNs {
		d.MinNs = ns
	}
	if ns > d.MaxNs {
		d.MaxNs = ns
	}
	d.Count++
	d.SumNs += ns
}

// RecordZeros adds n values of 0 at once: requests in which a stage or an
// operation did not occur.
func (d *Dist) RecordZeros(n int64) {
	if n <= 0 {
		return
	}
	d.memo = nil
	if d.Hist != nil {
		_ = d.Hist.RecordValues(0, n)
	} else {
		d.zeros += n
		d.sorted = false
	}
	d.MinNs = 0
	d.Count += n
}

// Merge adds o into d; histograms merge exactly.
func (d *Dist) Merge(o *Dist) {
	if o.Count == 0 {
		return
	}
	d.memo = nil
	switch {
	case o.Hist != nil:
		if d.Hist == nil {
			d.buildHist()
		}
		d.Hist.Merge(o.Hist)
	case d.Hist != nil:
		if o.zeros > 0 {
			_ = d.Hist.RecordValues(0, o.zeros)
		}
		o.raw.each(func(v uint32) { _ = d.Hist.RecordValue(int64(v)) })
	default:
		d.raw.merge(&o.raw)
		d.zeros += o.zeros
		d.sorted = false
		if d.raw.n > rawMax {
			d.buildHist()
		}
	}
	if d.Count == 0 || o.MinNs < d.MinNs {
		d.MinNs = o.MinNs
	}
	d.MaxNs = max(d.MaxNs, o.MaxNs)
	d.Count += o.Count
	d.SumNs += o.SumNs
	d.OverRange += o.OverRange
	d.Exemplars.merge(&o.Exemplars)
}

// QuantileNs returns the value at quantile q (0..100) in nanoseconds,
// never above the exact maximum.
func (d *Dist) QuantileNs(q float64) int64 {
	if d.Count == 0 {
		return 0
	}
	var v int64
	if us, ok := d.memoized(q); ok {
		v = us * 1000
	} else {
		var us int64
		if d.Hist != nil {
			us = d.Hist.ValueAtPercentile(q)
		} else {
			us = d.rawQuantile(q)
		}
		d.memo = append(d.memo, quantileMemo{q, us})
		v = us * 1000
	}
	if q >= 100 || v > d.MaxNs {
		v = d.MaxNs
	}
	if v < d.MinNs {
		v = d.MinNs
	}
	return v
}

// rawQuantile is what the histogram's ValueAtPercentile would answer for
// the kept values: the highest value equivalent to the one at the rank.
func (d *Dist) rawQuantile(q float64) int64 {
	n := int64(d.raw.n) + d.zeros
	if n == 0 {
		return 0
	}
	if d.raw.n > sortMax {
		return d.selectQuantiles([]float64{q})[0].us
	}
	if !d.sorted {
		// Into one sorted chunk of d's own: chunks may be shared.
		flat := d.raw.flat()
		slices.Sort(flat)
		d.raw = chunks[uint32]{c: [][]uint32{flat}, n: len(flat)}
		d.sorted = true
	}
	r := percentileRank(q, n)
	if r <= d.zeros {
		return 0
	}
	return highestEquivalent(int64(d.raw.c[0][r-d.zeros-1]))
}

// percentileRank is hdrhistogram-go's: the 1-based rank of quantile q.
func percentileRank(q float64, n int64) int64 {
	q = min(q, 100)
	rank := (q/100)*float64(n) + 0.5
	if !(rank >= 1) {
		return 1
	}
	if rank >= float64(n) {
		return n
	}
	return int64(rank)
}

// highestEquivalent is the largest value the histogram (lowest value 1, 3
// significant digits: 2048 sub-buckets) cannot tell from v.
func highestEquivalent(v int64) int64 {
	b := bits.Len64(uint64(v)|2047) - 11
	lo := v >> b << b
	return lo + int64(1)<<b - 1
}

// Summary is a distribution as reports show it, in milliseconds.
type Summary struct {
	Count     int64
	Quantiles []float64 // parallel to Result.Percentiles
	Max       float64
	Mean      float64
	Min       float64
}

func (d *Dist) memoized(q float64) (int64, bool) {
	for _, m := range d.memo {
		if m.q == q {
			return m.us, true
		}
	}
	return 0, false
}

// prepare computes the quantiles of many kept values in one pass, so that
// QuantileNs finds them memoized.
func (d *Dist) prepare(ps []float64) {
	if d.Hist != nil || d.raw.n <= sortMax {
		return
	}
	var missing []float64
	for _, q := range ps {
		if _, ok := d.memoized(q); !ok {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		d.memo = append(d.memo, d.selectQuantiles(missing)...)
	}
}

// selectQuantiles returns the quantiles of more kept values than are worth
// sorting: each is the value at its rank, found by selection on a
// copy (chunks may be shared), then widened to what the histogram would
// answer, as for sorted values. Ranks are taken in increasing order, each
// searched for above the last.
func (d *Dist) selectQuantiles(qs []float64) []quantileMemo {
	qs = slices.Clone(qs)
	slices.Sort(qs)
	buf := selectBuf.Get().(*[]uint32)
	defer selectBuf.Put(buf)
	flat := (*buf)[:0]
	for _, c := range d.raw.c {
		flat = append(flat, c...)
	}
	*buf = flat
	n := int64(len(flat)) + d.zeros
	out := make([]quantileMemo, 0, len(qs))
	lo := 0
	for _, q := range qs {
		var us int64
		if r := percentileRank(q, n); r > d.zeros {
			k := int(r - d.zeros - 1)
			selectNth(flat[lo:], k-lo)
			us, lo = highestEquivalent(int64(flat[k])), k
		}
		out = append(out, quantileMemo{q, us})
	}
	return out
}

var selectBuf = sync.Pool{New: func() any { return new([]uint32) }}

// selectNth reorders v so that v[k] holds the value sorting would put
// there, with nothing larger before it and nothing smaller after it
// (quickselect; it sorts what is left if the partitions keep coming out
// lopsided).
func selectNth(v []uint32, k int) {
	lo, hi := 0, len(v)-1
	for budget := 2 * bits.Len(uint(len(v))); hi-lo > 16; budget-- {
		if budget == 0 {
			slices.Sort(v[lo : hi+1])
			return
		}
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return // v[j+1:i] are all p
		}
	}
	slices.Sort(v[lo : hi+1])
}

// Summarize computes the reported figures for the given percentiles.
func (d *Dist) Summarize(percentiles []float64) Summary {
	s := Summary{Count: d.Count, Quantiles: make([]float64, len(percentiles))}
	if d.Count == 0 {
		return s
	}
	d.prepare(percentiles)
	for i, p := range percentiles {
		s.Quantiles[i] = nsToMs(d.QuantileNs(p))
	}
	s.Max = nsToMs(d.MaxNs)
	s.Min = nsToMs(d.MinNs)
	s.Mean = nsToMs(int64(math.Round(float64(d.SumNs) / float64(d.Count))))
	return s
}

// nsToMs converts to milliseconds rounded to the microsecond.
func nsToMs(ns int64) float64 {
	return math.Round(float64(ns)/1000) / 1000
}

// exemplars keeps the K slowest (value, trace) pairs, one entry per trace.
type exemplars struct {
	k     int
	items []exemplar
}

type exemplar struct {
	ns    int64
	trace model.TraceID
}

func (e *exemplars) better(a, b exemplar) bool {
	if a.ns != b.ns {
		return a.ns > b.ns
	}
	return string(a.trace[:]) < string(b.trace[:])
}

// offer considers one trace's value. A trace appears at most once: offer it
// once per trace, with its largest value. Most values are not among the
// slowest, so that answer comes first and copies nothing.
func (e *exemplars) offer(ns int64, t *model.TraceID) {
	if e.k == 0 {
		return
	}
	if n := len(e.items); n == e.k {
		last := &e.items[n-1]
		if ns < last.ns || ns == last.ns && string(t[:]) >= string(last.trace[:]) {
			return
		}
	}
	e.insert(exemplar{ns, *t})
}

func (e *exemplars) insert(x exemplar) {
	i, _ := slices.BinarySearchFunc(e.items, x, func(a, b exemplar) int {
		if e.better(a, b) {
			return -1
		}
		if e.better(b, a) {
			return 1
		}
		return 0
	})
	e.items = slices.Insert(e.items, i, x)
	if len(e.items) > e.k {
		e.items = e.items[:e.k]
	}
}

func (e *exemplars) merge(o *exemplars) {
	if e.k == 0 {
		e.k = o.k
	}
	for _, x := range o.items {
		e.offer(x.ns, &x.trace)
	}
}

// ids returns the exemplar trace IDs, slowest first.
func (e *exemplars) ids(text func(model.TraceID) string) []string {
	out := make([]string, len(e.items))
	for i, x := range e.items {
		out[i] = text(x.trace)
	}
	return out
}

// PercentileKey names a percentile the way reports and the JSON contract do:
// 50 → "p50", 99.9 → "p99.9".
func PercentileKey(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}
