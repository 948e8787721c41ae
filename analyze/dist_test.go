package analyze

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A Dist that keeps its values exactly answers every quantile exactly as
// the histogram built from them would, zeros and merges included.
func TestDistKeptValuesMatchHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pcts := []float64{0.1, 1, 25, 50, 90, 95, 99, 99.9, 100}
	for _, n := range []int{1, 2, 3, 10, 99, 1000, sortMax + 1, 20_000, 60_000} {
		var kept Dist
		var parts [3]Dist
		for i := range n {
			var ns int64
			switch rng.IntN(4) {
			case 0:
				ns = rng.Int64N(5_000) // below and around 1 µs
			case 1:
				ns = rng.Int64N(3_000_000_000) // up to 3 s
			default:
				ns = rng.Int64N(50_000_000)
			}
			kept.Record(ns)
			parts[i%3].Record(ns)
		}
		kept.RecordZeros(int64(n / 7))
		parts[1].RecordZeros(int64(n / 7))
		if kept.Hist != nil {
			t.Fatalf("n=%d: histogram built for few values", n)
		}
		hist := kept
		hist.Hist = kept.Histogram()
		var merged Dist
		for i := range parts {
			merged.Merge(&parts[i])
		}
		// Summarize computes all the quantiles at once (by selection past
		// sortMax values), on a copy with none memoized yet.
		var batch Dist
		batch.Merge(&kept)
		sum := batch.Summarize(pcts)
		for i, p := range pcts {
			if want := nsToMs(hist.QuantileNs(p)); sum.Quantiles[i] != want {
				t.Errorf("n=%d p%v: the summary gives %v ms, histogram %v ms", n, p, sum.Quantiles[i], want)
			}
		}
		for _, p := range pcts {
			want := hist.QuantileNs(p)
			if got := kept.QuantileNs(p); got != want {
				t.Errorf("n=%d p%v: kept values give %d, histogram %d", n, p, got, want)
			}
			if got := merged.QuantileNs(p); got != want {
				t.Errorf("n=%d p%v: merged parts give %d, histogram %d", n, p, got, want)
			}
		}
		if merged.Count != kept.Count || merged.SumNs != kept.SumNs || merged.MinNs != kept.MinNs || merged.MaxNs != kept.MaxNs {
			t.Errorf("n=%d: exact figures differ after merge", n)
		}
	}
}

// Past rawMax values a Dist switches to its histogram, and merges between
// the two forms give the answers of recording everything in one.
func TestDistSwitchesToHistogram(t *testing.T) {
	val := func(i int) int64 { return int64(i*7919%1_000_000) * 1000 }
	var big1, big2, small1, small2, all Dist
	for i := range rawMax + 10 {
		big1.Record(val(i))
		big2.Record(val(i))
		all.Record(val(i))
	}
	for i := range 1000 {
		small1.Record(val(i) + 17)
		small2.Record(val(i) + 17)
		all.Record(val(i) + 17)
	}
	if big1.Hist == nil || small1.Hist != nil {
		t.Fatalf("big has histogram %v, small %v", big1.Hist != nil, small1.Hist != nil)
	}
	big1.Merge(&small1) // kept values into a histogram
	small2.Merge(&big2) // a histogram into kept values
	for _, p := range []float64{1, 50, 99, 100} {
		want := all.QuantileNs(p)
		if got := big1.QuantileNs(p); got != want {
			t.Errorf("p%v: histogram+kept %d, want %d", p, got, want)
		}
		if got := small2.QuantileNs(p); got != want {
			t.Errorf("p%v: kept+histogram %d, want %d", p, got, want)
		}
	}
}

func TestHighestEquivalentMatchesHDR(t *testing.T) {
	h := NewHistogram()
	rng := rand.New(rand.NewPCG(1, 1))
	for range 10_000 {
		v := rng.Int64N(histHighest)
		if rng.IntN(3) == 0 {
			v = rng.Int64N(5000)
		}
		h.Reset()
		_ = h.RecordValue(v)
		if got, want := highestEquivalent(v), h.ValueAtPercentile(100); got != want {
			t.Fatalf("highestEquivalent(%d) = %d, HDR says %d", v, got, want)
		}
	}
}

// TestSelectNth checks selection against sorting on inputs that trouble
// quickselect: sorted, reversed, all equal, two values, organ pipes.
func TestSelectNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	inputs := map[string]func(i, n int) uint32{
		"random":   func(i, n int) uint32 { return rng.Uint32N(1 << 20) },
		"sorted":   func(i, n int) uint32 { return uint32(i) },
		"reversed": func(i, n int) uint32 { return uint32(n - i) },
		"equal":    func(i, n int) uint32 { return 7 },
		"two":      func(i, n int) uint32 { return uint32(i % 2) },
		"pipes":    func(i, n int) uint32 { return uint32(min(i, n-i)) },
	}
	for name, gen := range inputs {
		for _, n := range []int{1, 2, 17, 100, 5000} {
			v := make([]uint32, n)
			for i := range v {
				v[i] = gen(i, n)
			}
			sorted := slices.Clone(v)
			slices.Sort(sorted)
			for _, k := range []int{0, n / 2, n * 95 / 100, n - 1} {
				w := slices.Clone(v)
				selectNth(w, k)
				if w[k] != sorted[k] {
					t.Fatalf("%s n=%d k=%d: %d, want %d", name, n, k, w[k], sorted[k])
				}
				for i := range w {
					if i < k && w[i] > w[k] || i > k && w[i] < w[k] {
						t.Fatalf("%s n=%d k=%d: %d at %d is on the wrong side of %d", name, n, k, w[i], i, w[k])
					}
				}
			}
		}
	}
}
