package analyze

import (
	"math"
	"slices"
	"strconv"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/trace-forensics/trace-forensics/sources"
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
// requests as exemplars.
type Dist struct {
	Hist      *hdr.Histogram
	Count     int64
	SumNs     int64
	MinNs     int64
	MaxNs     int64
	OverRange int64 // values above the histogram's range, recorded at its maximum
	Exemplars exemplars
}

// Record adds one value in nanoseconds.
func (d *Dist) Record(ns int64) {
	if d.Hist == nil {
		d.Hist = NewHistogram()
	}
	if ns < 0 {
		ns = 0
	}
	us := (ns + 500) / 1000
	if us > histHighest {
		us = histHighest
		d.OverRange++
	}
	// RecordValue fails only outside the range, which was just excluded.
	_ = d.Hist.RecordValue(us)
	if d.Count == 0 || ns < d.MinNs {
		d.MinNs = ns
	}
	if ns > d.MaxNs {
		d.MaxNs = ns
	}
	d.Count++
	d.SumNs += ns
}

// Merge adds o into d; histograms merge exactly.
func (d *Dist) Merge(o *Dist) {
	if o.Count == 0 {
		return
	}
	if d.Hist == nil {
		d.Hist = NewHistogram()
	}
	d.Hist.Merge(o.Hist)
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
	v := d.Hist.ValueAtPercentile(q) * 1000
	if q >= 100 || v > d.MaxNs {
		v = d.MaxNs
	}
	if v < d.MinNs {
		v = d.MinNs
	}
	return v
}

// Summary is a distribution as reports show it, in milliseconds.
type Summary struct {
	Count     int64
	Quantiles []float64 // parallel to Result.Percentiles
	Max       float64
	Mean      float64
	Min       float64
}

// Summarize computes the reported figures for the given percentiles.
func (d *Dist) Summarize(percentiles []float64) Summary {
	s := Summary{Count: d.Count, Quantiles: make([]float64, len(percentiles))}
	if d.Count == 0 {
		return s
	}
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
	trace sources.TraceID
}

func (e *exemplars) better(a, b exemplar) bool {
	if a.ns != b.ns {
		return a.ns > b.ns
	}
	return string(a.trace[:]) < string(b.trace[:])
}

// offer considers one trace's value. A trace appears at most once: offer it
// once per trace, with its largest value.
func (e *exemplars) offer(ns int64, t sources.TraceID) {
	if e.k == 0 {
		return
	}
	x := exemplar{ns, t}
	if len(e.items) == e.k && !e.better(x, e.items[len(e.items)-1]) {
		return
	}
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
		e.offer(x.ns, x.trace)
	}
}

// ids returns the exemplar trace IDs, slowest first.
func (e *exemplars) ids(text func(sources.TraceID) string) []string {
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
