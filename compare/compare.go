// Package compare compares two breakdowns — a baseline and a candidate,
// from snapshots or traces — per request, stage and operation: p50/p95/p99
// old → new with the change in percent, and whether the change is
// statistically significant by a Mann–Whitney U test on the values behind
// the histograms (benchstat's test, computed from the buckets). It is the
// step after snapshot in the pipeline; package gate judges its rows.
package compare

import (
	"fmt"
	"math"
	"strconv"

	"github.com/trace-forensics/trace-forensics/snapshot"
)

// DefaultAlpha is the significance level unless --alpha says otherwise.
const DefaultAlpha = 0.05

// DefaultPercentiles are compared unless asked otherwise.
var DefaultPercentiles = []float64{50, 95, 99}

// Scopes of a row, as the JSON contract names them.
const (
	ScopeRequest   = "request"
	ScopeStage     = "stage"
	ScopeOperation = "operation"
)

// Options controls a comparison.
type Options struct {
	Alpha       float64   // 0 means DefaultAlpha
	Percentiles []float64 // nil means DefaultPercentiles
	BaseLabel   string    // how headlines name the sides
	NewLabel    string
}

// Comparison is everything compare's reports show; every number in every
// format comes from a field here.
type Comparison struct {
	Alpha       float64
	Percentiles []float64
	BaseLabel   string
	NewLabel    string
	// Dists are the compared distributions: the request first, then the
	// stages (the baseline's order, then those only the candidate has),
	// then the operations likewise.
	Dists []DistComparison
	// Warnings: too few requests to detect a change or to trust a tail
	// quantile, stages or operations on one side only, snapshot notes.
	Warnings []string
}

// DistComparison is one distribution on both sides and the test between
// them. Request and stage values are per request; operation values per
// span (the operation's inclusive duration).
type DistComparison struct {
	Scope, Name string
	Base, New   *snapshot.Dist // nil when the side does not have it
	Test        UTest
	Rows        []Row // one per percentile
}

// Row is one quantile of one distribution, old → new: a row of the JSON
// contract.
type Row struct {
	Scope      string
	Name       string
	Percentile float64
	BaseMs     *float64 // nil: the side has no values
	NewMs      *float64
	// DeltaPct is (new − base) / base in percent; nil when base is 0 or a
	// side has no values.
	DeltaPct    *float64
	PValue      *float64 // nil when a side has no values
	Significant bool     // PValue < Alpha
	BaseN, NewN int64
}

// Quantile names the row's percentile: "p95".
func (r *Row) Quantile() string { return QuantileName(r.Percentile) }

// QuantileName names a percentile as reports and rules do: 99.9 → "p99.9".
func QuantileName(p float64) string { return "p" + strconv.FormatFloat(p, 'f', -1, 64) }

// Rows returns every row, distribution by distribution.
func (c *Comparison) Rows() []Row {
	var out []Row
	for _, d := range c.Dists {
		out = append(out, d.Rows...)
	}
	return out
}

// Find returns the compared distribution of the scope and name, or nil.
func (c *Comparison) Find(scope, name string) *DistComparison {
	for i := range c.Dists {
		if c.Dists[i].Scope == scope && c.Dists[i].Name == name {
			return &c.Dists[i]
		}
	}
	return nil
}

// Compare compares a candidate breakdown with a baseline.
func Compare(base, new *snapshot.Breakdown, opt Options) *Comparison {
	if opt.Alpha == 0 {
		opt.Alpha = DefaultAlpha
	}
	if opt.Percentiles == nil {
		opt.Percentiles = DefaultPercentiles
	}
	if opt.BaseLabel == "" {
		opt.BaseLabel = "base"
	}
	if opt.NewLabel == "" {
		opt.NewLabel = "new"
	}
	c := &Comparison{Alpha: opt.Alpha, Percentiles: opt.Percentiles, BaseLabel: opt.BaseLabel, NewLabel: opt.NewLabel}
	c.add(ScopeRequest, "request", &base.Requests.Latency, &new.Requests.Latency)

	newStage := map[string]*snapshot.Stage{}
	for i := range new.Stages {
		newStage[new.Stages[i].Name] = &new.Stages[i]
	}
	var onlyBase, onlyNew []string
	seen := map[string]bool{}
	for i := range base.Stages {
		b := &base.Stages[i]
		seen[b.Name] = true
		var nd *snapshot.Dist
		if n := newStage[b.Name]; n != nil {
			nd = &n.CriticalPath
		} else {
			// Not in a request, a stage takes no time in it.
			nd = zeros(new.Requests.Latency.Count)
			if b.Requests > 0 {
				onlyBase = append(onlyBase, "stage "+b.Name)
			}
		}
		c.add(ScopeStage, b.Name, &b.CriticalPath, nd)
	}
	for i := range new.Stages {
		n := &new.Stages[i]
		if !seen[n.Name] {
			if n.Requests > 0 {
				onlyNew = append(onlyNew, "stage "+n.Name)
			}
			c.add(ScopeStage, n.Name, zeros(base.Requests.Latency.Count), &n.CriticalPath)
		}
	}

	newOp := map[string]*snapshot.Operation{}
	for i := range new.Operations {
		newOp[new.Operations[i].Name()] = &new.Operations[i]
	}
	seen = map[string]bool{}
	for i := range base.Operations {
		b := &base.Operations[i]
		seen[b.Name()] = true
		var nd *snapshot.Dist
		if n := newOp[b.Name()]; n != nil {
			nd = &n.Duration
		} else {
			onlyBase = append(onlyBase, "operation "+b.Name())
		}
		c.add(ScopeOperation, b.Name(), &b.Duration, nd)
	}
	for i := range new.Operations {
		n := &new.Operations[i]
		if !seen[n.Name()] {
			onlyNew = append(onlyNew, "operation "+n.Name())
			c.add(ScopeOperation, n.Name(), nil, &n.Duration)
		}
	}
	c.warnSizes()
	if len(onlyBase) > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("only in %s: %s", c.BaseLabel, joinList(onlyBase)))
	}
	if len(onlyNew) > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("only in %s: %s", c.NewLabel, joinList(onlyNew)))
	}
	return c
}

// zeros is a stage's time in n requests that do not have it.
func zeros(n int64) *snapshot.Dist {
	d := &snapshot.Dist{}
	d.RecordZeros(n)
	return d
}

func joinList(s []string) string {
	const most = 8
	out := ""
	for i, x := range s {
		if i == most {
			return out + fmt.Sprintf(" and %d more", len(s)-most)
		}
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// add compares one distribution; base or new may be nil.
func (c *Comparison) add(scope, name string, base, new *snapshot.Dist) {
	d := DistComparison{Scope: scope, Name: name, Base: base, New: new}
	if base != nil && new != nil {
		d.Test = MannWhitney(base.Buckets(), new.Buckets())
	}
	for _, p := range c.Percentiles {
		d.Rows = append(d.Rows, c.row(&d, p))
	}
	c.Dists = append(c.Dists, d)
}

// Row computes the row of one percentile of a compared distribution: what
// rules use for percentiles the comparison does not show.
func (c *Comparison) Row(d *DistComparison, p float64) Row { return c.row(d, p) }

func (c *Comparison) row(d *DistComparison, p float64) Row {
	r := Row{Scope: d.Scope, Name: d.Name, Percentile: p}
	if d.Base != nil {
		r.BaseN = d.Base.Count
		if d.Base.Count > 0 {
			r.BaseMs = ptr(d.Base.QuantileMs(p))
		}
	}
	if d.New != nil {
		r.NewN = d.New.Count
		if d.New.Count > 0 {
			r.NewMs = ptr(d.New.QuantileMs(p))
		}
	}
	if r.BaseMs != nil && r.NewMs != nil {
		if *r.BaseMs > 0 {
			r.DeltaPct = ptr(math.Round((*r.NewMs-*r.BaseMs) / *r.BaseMs * 1e6) / 1e4)
		}
		r.PValue = ptr(d.Test.P)
		r.Significant = d.Test.P < c.Alpha
	}
	return r
}

func ptr(f float64) *float64 { return &f }

// tailValues is how many values beyond a quantile make it trustworthy
// enough to compare: with fewer, a quantile is one of the few slowest
// requests and moves with each of them.
const tailValues = 10

// warnSizes warns when the request counts cannot show a change: a side
// too small for the U test to reach α at all, or too small for a tail
// percentile to rest on more than a handful of requests.
func (c *Comparison) warnSizes() {
	if len(c.Dists) == 0 {
		return
	}
	req := &c.Dists[0]
	nb, nn := dcount(req.Base), dcount(req.New)
	if MinP(nb, nn) >= c.Alpha {
		c.Warnings = append(c.Warnings, fmt.Sprintf("too few requests to detect any change at α = %g: %d in %s, %d in %s (need %d on each side)",
			c.Alpha, nb, c.BaseLabel, nn, c.NewLabel, minSample(c.Alpha)))
		return
	}
	for _, p := range c.Percentiles {
		need := int64(math.Ceil(tailValues / (1 - p/100)))
		if p >= 100 || min(nb, nn) >= need {
			continue
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s rests on the %d slowest of %d requests in %s and the %d slowest of %d in %s: its changes are noisy below %d requests a side",
			QuantileName(p), tail(nb, p), nb, c.BaseLabel, tail(nn, p), nn, c.NewLabel, need))
	}
}

func dcount(d *snapshot.Dist) int64 {
	if d == nil {
		return 0
	}
	return d.Count
}

// tail is how many of n values lie above percentile p.
func tail(n int64, p float64) int64 {
	return n - int64(math.Ceil(float64(n)*p/100))
}

// minSample is the smallest equal sample size at which the U test can
// reach alpha.
func minSample(alpha float64) int64 {
	for n := int64(1); ; n++ {
		if MinP(n, n) < alpha {
			return n
		}
	}
}
