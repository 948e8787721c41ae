package snapshot

import (
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: the project's (analyze.NewHistogram), values in
// microseconds from 1 µs to 1 hour with 3 significant digits. Every
// histogram of a snapshot has it, so merges are exact.
const (
	histLowest  = 1
	histHighest = 3600 * 1000 * 1000
	histSigFigs = 3
)

func newHist() *hdr.PackedHistogram { return hdr.NewPacked(histLowest, histHighest, histSigFigs) }

// Dist is one stored distribution: its HDR histogram (sparse, in µs) with
// the exact count, sum, minimum and maximum beside it, and the slowest
// values with their traces.
type Dist struct {
	Count     int64
	SumNs     int64
	MinNs     int64
	MaxNs     int64
	OverRange int64 // values over 1 h, recorded as 1 h in the histogram
	Exemplars []Exemplar
	hist      *hdr.PackedHistogram // nil when Count is 0
	encoded   string               // the hdr field as read, until decoded
}

// Exemplar is one of the slowest values of a distribution and its trace.
type Exemplar struct {
	TraceID string `json:"trace_id"`
	Ns      int64  `json:"ns"`
}

// distJSON is a Dist on the wire. Ms holds figures for people reading the
// file (p50, p95, p99, max, mean in milliseconds); readers ignore it and
// compute everything from the histogram.
type distJSON struct {
	Count     int64              `json:"count"`
	SumNs     int64              `json:"sum_ns"`
	MinNs     int64              `json:"min_ns"`
	MaxNs     int64              `json:"max_ns"`
	OverRange int64              `json:"over_range,omitempty"`
	Ms        map[string]float64 `json:"ms,omitempty"`
	HDR       string             `json:"hdr,omitempty"`
	Exemplars []Exemplar         `json:"exemplars,omitempty"`
}

// MarshalJSON writes the histogram in the standard HdrHistogram V2
// compressed, base64 form.
func (d Dist) MarshalJSON() ([]byte, error) {
	j := distJSON{Count: d.Count, SumNs: d.SumNs, MinNs: d.MinNs, MaxNs: d.MaxNs, OverRange: d.OverRange, Exemplars: d.Exemplars}
	if d.hist != nil && d.Count > 0 {
		b, err := d.hist.Encode()
		if err != nil {
			return nil, err
		}
		j.HDR = string(b)
		j.Ms = map[string]float64{"max": nsToMs(d.MaxNs), "mean": nsToMs(int64(math.Round(float64(d.SumNs) / float64(d.Count))))}
		for _, p := range []float64{50, 95, 99} {
			j.Ms[fmt.Sprintf("p%g", p)] = nsToMs(d.QuantileNs(p))
		}
	} else if d.encoded != "" {
		j.HDR = d.encoded
	}
	return json.Marshal(j)
}

// UnmarshalJSON keeps the histogram encoded; decode checks it.
func (d *Dist) UnmarshalJSON(b []byte) error {
	var j distJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Dist{Count: j.Count, SumNs: j.SumNs, MinNs: j.MinNs, MaxNs: j.MaxNs, OverRange: j.OverRange, Exemplars: j.Exemplars, encoded: j.HDR}
	return nil
}

// decode turns the encoded histogram into one the project can merge with
// and checks it against the counts beside it.
func (d *Dist) decode() error {
	enc := d.encoded
	d.encoded = ""
	if d.Count < 0 {
		return fmt.Errorf("count %d is negative", d.Count)
	}
	if enc == "" {
		if d.Count > 0 {
			return fmt.Errorf("count is %d but there is no histogram (hdr)", d.Count)
		}
		d.hist = nil
		return nil
	}
	h, err := hdr.DecodePacked([]byte(enc))
	if err != nil {
		return fmt.Errorf("hdr: %v", err)
	}
	if h.LowestTrackableValue() != histLowest || h.HighestTrackableValue() < histHighest || h.SignificantFigures() != histSigFigs {
		return fmt.Errorf("hdr: histogram covers %d…%d with %d significant digits; snapshots use %d µs…%d µs with %d",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), histLowest, histHighest, histSigFigs)
	}
	if h.TotalCount() != d.Count {
		return fmt.Errorf("hdr holds %d values but count is %d", h.TotalCount(), d.Count)
	}
	if d.Count > 0 && d.MinNs > d.MaxNs {
		return fmt.Errorf("min_ns %d is above max_ns %d", d.MinNs, d.MaxNs)
	}
	d.hist = h
	if d.Count == 0 {
		d.hist = nil
	}
	return nil
}

// recordUs adds n values of us microseconds to the histogram only; the
// caller keeps the exact figures.
func (d *Dist) recordUs(us, n int64) {
	if n <= 0 {
		return
	}
	if d.hist == nil {
		d.hist = newHist()
	}
	us = min(max(us, 0), histHighest)
	// RecordValues fails only outside the range, which was excluded.
	_ = d.hist.RecordValues(us, n)
}

// Record adds one value in nanoseconds, as analyze.Dist does.
func (d *Dist) Record(ns int64) {
	ns = max(ns, 0)
	us := (ns + 500) / 1000
	if us > histHighest {
		d.OverRange++
	}
	d.recordUs(us, 1)
	if d.Count == 0 || ns < d.MinNs {
		d.MinNs = ns
	}
	d.MaxNs = max(d.MaxNs, ns)
	d.Count++
	d.SumNs += ns
}

// RecordZeros adds n values of 0: requests in which a stage or an
// operation did not occur.
func (d *Dist) RecordZeros(n int64) {
	if n <= 0 {
		return
	}
	d.recordUs(0, n)
	d.MinNs = 0
	d.Count += n
}

// Merge adds o into d exactly: the histograms add, the counts and sums add,
// and the k slowest exemplars of both are kept.
func (d *Dist) Merge(o *Dist, k int) {
	if o.Count == 0 {
		return
	}
	if d.hist == nil {
		d.hist = newHist()
	}
	d.hist.Merge(o.hist)
	if d.Count == 0 || o.MinNs < d.MinNs {
		d.MinNs = o.MinNs
	}
	d.MaxNs = max(d.MaxNs, o.MaxNs)
	d.Count += o.Count
	d.SumNs += o.SumNs
	d.OverRange += o.OverRange
	d.Exemplars = mergeExemplars(d.Exemplars, o.Exemplars, k)
}

// mergeExemplars keeps the k slowest, one per trace, slowest first.
func mergeExemplars(a, b []Exemplar, k int) []Exemplar {
	all := append(slices.Clone(a), b...)
	slices.SortStableFunc(all, func(x, y Exemplar) int {
		if x.Ns != y.Ns {
			if x.Ns > y.Ns {
				return -1
			}
			return 1
		}
		if x.TraceID < y.TraceID {
			return -1
		}
		if x.TraceID > y.TraceID {
			return 1
		}
		return 0
	})
	out := all[:0]
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.TraceID] || len(out) == k {
			continue
		}
		seen[e.TraceID] = true
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// QuantileNs returns the value at percentile p (0..100] in nanoseconds as
// analyze.Dist computes it, so a snapshot reports the breakdown's numbers:
// the histogram's value, never above the exact maximum nor below the exact
// minimum.
func (d *Dist) QuantileNs(p float64) int64 {
	if d.Count == 0 || d.hist == nil {
		return 0
	}
	v := d.hist.ValueAtPercentile(p) * 1000
	if p >= 100 || v > d.MaxNs {
		v = d.MaxNs
	}
	if v < d.MinNs {
		v = d.MinNs
	}
	return v
}

// QuantileMs is QuantileNs in milliseconds rounded to the microsecond, as
// reports show it.
func (d *Dist) QuantileMs(p float64) float64 { return nsToMs(d.QuantileNs(p)) }

// Buckets yields the histogram's populated buckets in ascending order: a
// value in µs that stands for its bucket, and how many values fell in it.
// Values in the same bucket cannot be told apart.
func (d *Dist) Buckets() iter.Seq2[int64, int64] {
	return func(yield func(int64, int64) bool) {
		if d.hist == nil {
			return
		}
		d.hist.ForEachBucket(yield)
	}
}

// Equal reports whether two distributions hold the same histogram and the
// same exact figures (exemplars aside).
func (d *Dist) Equal(o *Dist) bool {
	if d.Count != o.Count || d.SumNs != o.SumNs || d.MinNs != o.MinNs || d.MaxNs != o.MaxNs || d.OverRange != o.OverRange {
		return false
	}
	var a, b [][2]int64
	for v, c := range d.Buckets() {
		a = append(a, [2]int64{v, c})
	}
	for v, c := range o.Buckets() {
		b = append(b, [2]int64{v, c})
	}
	return slices.Equal(a, b)
}

// nsToMs converts to milliseconds rounded to the microsecond.
func nsToMs(ns int64) float64 {
	return math.Round(float64(ns)/1000) / 1000
}
