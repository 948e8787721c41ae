package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/perf/benchmath"

	"github.com/trace-forensics/trace-forensics/snapshot"
)

// buckets builds a histogram-like bucket list from values.
func bucketsOf(vals []int64) func(func(int64, int64) bool) {
	var d snapshot.Dist
	for _, v := range vals {
		d.Record(v * 1000)
	}
	return d.Buckets()
}

func values(rng *rand.Rand, n int, median, sigma float64, distinct int) []int64 {
	out := make([]int64, n)
	for i := range out {
		v := median * math.Exp(sigma*rng.NormFloat64())
		if distinct > 0 {
			v = float64(rng.IntN(distinct))
		}
		out[i] = int64(v)
	}
	return out
}

// The U test over histogram buckets is benchstat's (go-moremath's) test on
// the bucket values expanded: exact distribution for small samples, the
// normal approximation with tie and continuity corrections above.
func TestMannWhitneyMatchesBenchmath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		n1, n2   int
		shift    float64
		distinct int
	}{
		{5, 5, 1.5, 0}, {20, 30, 1.1, 0}, {20, 20, 1, 4}, {50, 50, 1.05, 0}, {51, 60, 1.1, 0},
		{300, 300, 1.2, 0}, {300, 250, 1, 0}, {2000, 1500, 1.02, 0}, {400, 400, 1, 3}, {1000, 10, 1.3, 0},
	} {
		for range 5 {
			a := values(rng, c.n1, 800, 0.45, c.distinct)
			b := values(rng, c.n2, 800*c.shift, 0.45, c.distinct)
			got := MannWhitney(bucketsOf(a), bucketsOf(b))
			// The same values as the buckets hold them.
			var ea, eb []float64
			for v, n := range bucketsOf(a) {
				for range n {
					ea = append(ea, float64(v))
				}
			}
			for v, n := range bucketsOf(b) {
				for range n {
					eb = append(eb, float64(v))
				}
			}
			th := benchmath.DefaultThresholds
			want := benchmath.AssumeNothing.Compare(benchmath.NewSample(ea, &th), benchmath.NewSample(eb, &th))
			if math.Abs(got.P-want.P) > 1e-9*max(1, want.P) {
				t.Errorf("n=%d,%d shift %v distinct %d: p = %v, benchmath says %v", c.n1, c.n2, c.shift, c.distinct, got.P, want.P)
			}
			if u := bruteU(ea, eb); math.Abs(got.U-u) > 1e-6 {
				t.Errorf("n=%d,%d: U = %v, want %v", c.n1, c.n2, got.U, u)
			}
			if got.N1 != int64(c.n1) || got.N2 != int64(c.n2) {
				t.Errorf("n = %d, %d", got.N1, got.N2)
			}
		}
	}
}

// bruteU counts the pairs where the new value is larger, ties as ½.
func bruteU(base, new []float64) float64 {
	var u float64
	for _, y := range new {
		for _, x := range base {
			switch {
			case y > x:
				u++
			case y == x:
				u += 0.5
			}
		}
	}
	return u
}
