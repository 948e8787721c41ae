package compare

import (
	"iter"
	"math"

	"golang.org/x/perf/benchmath"
)

// UTest is the outcome of a two-sided Mann–Whitney U test.
type UTest struct {
	P      float64 // p-value; 1 when the test cannot tell (empty side, all values equal)
	U      float64 // the new side's U statistic, ties counted as ½
	N1, N2 int64   // base and new sample sizes
}

// Slower returns the one-sided p-value of the alternative that the new
// values tend to be larger than the base ones: half the two-sided p when
// they do, else 1 − p/2.
func (t UTest) Slower() float64 {
	if t.N1 == 0 || t.N2 == 0 {
		return 1
	}
	if t.U > float64(t.N1)*float64(t.N2)/2 {
		return t.P / 2
	}
	return 1 - t.P/2
}

// exactLimit is the sample size up to which the test expands the buckets to
// values and lets benchmath (go-moremath's exact U distribution) decide,
// as benchstat does; above it, both use the normal approximation with tie
// and continuity corrections, which MannWhitney computes from the buckets.
const exactLimit = 50

// MannWhitney tests whether base and new come from the same distribution,
// from histogram buckets (ascending value, count): values in the same bucket
// tie. For samples up to exactLimit it is benchmath.AssumeNothing.Compare
// on the expanded values; above, the same normal approximation computed in
// one pass over the buckets, so millions of requests cost what their
// populated buckets cost.
func MannWhitney(base, new iter.Seq2[int64, int64]) UTest {
	b, n := collect(base), collect(new)
	var n1, n2 int64
	for _, x := range b {
		n1 += x.count
	}
	for _, x := range n {
		n2 += x.count
	}
	if n1 == 0 || n2 == 0 {
		return UTest{P: 1, N1: n1, N2: n2}
	}
	if n1 <= exactLimit && n2 <= exactLimit {
		th := benchmath.DefaultThresholds
		c := benchmath.AssumeNothing.Compare(benchmath.NewSample(expand(b), &th), benchmath.NewSample(expand(n), &th))
		return UTest{P: c.P, U: uStat(b, n), N1: n1, N2: n2}
	}

	// Walk the merged buckets: each distinct value is a block of ties whose
	// members all get the block's mean rank.
	var rNew, ties, seen float64
	i, j := 0, 0
	for i < len(b) || j < len(n) {
		var v int64
		switch {
		case j == len(n) || i < len(b) && b[i].v < n[j].v:
			v = b[i].v
		default:
			v = n[j].v
		}
		var cb, cn float64
		if i < len(b) && b[i].v == v {
			cb = float64(b[i].count)
			i++
		}
		if j < len(n) && n[j].v == v {
			cn = float64(n[j].count)
			j++
		}
		t := cb + cn
		rNew += cn * (seen + (t+1)/2)
		ties += t*t*t - t
		seen += t
	}
	f1, f2 := float64(n2), float64(n1) // the new side is "first" for U
	u := rNew - f1*(f1+1)/2
	N := f1 + f2
	mu := f1 * f2 / 2
	sigma := math.Sqrt(f1 * f2 * ((N + 1) - ties/(N*(N-1))) / 12)
	if sigma == 0 {
		return UTest{P: 1, U: u, N1: n1, N2: n2}
	}
	num := u - mu
	if num > 0 {
		num -= 0.5
	} else if num < 0 {
		num += 0.5
	}
	z := num / sigma
	p := math.Erfc(math.Abs(z) / math.Sqrt2)
	return UTest{P: min(p, 1), U: u, N1: n1, N2: n2}
}

type bucket struct{ v, count int64 }

func collect(s iter.Seq2[int64, int64]) []bucket {
	var out []bucket
	for v, c := range s {
		if c > 0 {
			out = append(out, bucket{v, c})
		}
	}
	return out
}

func expand(bs []bucket) []float64 {
	var out []float64
	for _, b := range bs {
		for range b.count {
			out = append(out, float64(b.v))
		}
	}
	return out
}

// uStat is the new side's U over buckets: pairs where new is larger, plus
// half the ties.
func uStat(base, new []bucket) float64 {
	var u float64
	for _, y := range new {
		for _, x := range base {
			switch {
			case y.v > x.v:
				u += float64(y.count * x.count)
			case y.v == x.v:
				u += float64(y.count*x.count) / 2
			}
		}
	}
	return u
}

// MinP is the smallest p-value a two-sided U test can give for samples of
// n1 and n2 values (no ties, the samples wholly apart): when it is above α
// no change can be detected, however large.
func MinP(n1, n2 int64) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	if n1 <= exactLimit && n2 <= exactLimit {
		// 2 / C(n1+n2, n1)
		lc, _ := math.Lgamma(float64(n1 + n2 + 1))
		l1, _ := math.Lgamma(float64(n1 + 1))
		l2, _ := math.Lgamma(float64(n2 + 1))
		return min(1, 2*math.Exp(-(lc-l1-l2)))
	}
	f1, f2 := float64(n1), float64(n2)
	sigma := math.Sqrt(f1 * f2 * (f1 + f2 + 1) / 12)
	z := (f1*f2/2 - 0.5) / sigma
	return math.Erfc(z / math.Sqrt2)
}
