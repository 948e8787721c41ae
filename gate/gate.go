package gate

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// Status is a rule's outcome.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail" // an error rule failed: the gate fails
	Warn Status = "warn" // a warning rule failed
	Skip Status = "skip" // nothing to judge (a pattern that matched nothing)
)

// Options controls an evaluation.
type Options struct {
	Alpha       float64   // 0: the rules file's, else compare.DefaultAlpha
	Percentiles []float64 // shown in the comparison besides the rules' own; nil: compare.DefaultPercentiles
	BaseLabel   string
	NewLabel    string
}

// Verdict is the gate's outcome with the comparison it judged.
type Verdict struct {
	Passed     bool
	Alpha      float64
	Rules      *Rules
	Outcomes   []Outcome
	Comparison *compare.Comparison // nil without a baseline
	// Family is how many distributions the relative rules test: Holm's
	// correction spans them, so that the gate as a whole raises a false
	// alarm with probability at most Alpha.
	Family   int
	Failed   int // error rules that failed
	Warnings []string
}

// Outcome is one rule's result.
type Outcome struct {
	Rule   Rule
	Status Status
	Checks []Check // one per distribution the rule looked at
	// Note says why there are no checks: no stage or operation matched.
	Note string
}

// Check is one rule applied to one distribution (or, for min_requests,
// one side).
type Check struct {
	Scope, Name string
	Side        string  // min_requests: "baseline" or "candidate"
	Value       float64 // ms (Absolute), percent (Regression), fraction (Share), count
	Row         *compare.Row
	// AdjustedP is the p-value after Holm's correction (Regression).
	AdjustedP   *float64
	Significant bool // AdjustedP < alpha
	Failed      bool
	Note        string
}

// Evaluate judges new (and base, which may be nil when no rule is
// relative) against the rules.
func Evaluate(base, new *snapshot.Breakdown, rules *Rules, opt Options) (*Verdict, error) {
	if base == nil && rules.NeedsBaseline() {
		return nil, errNoBaseline
	}
	alpha := cmp.Or(opt.Alpha, rules.Alpha, compare.DefaultAlpha)
	pct := slices.Clone(opt.Percentiles)
	if pct == nil {
		pct = slices.Clone(compare.DefaultPercentiles)
	}
	pct = append(pct, rules.Percentiles()...)
	slices.Sort(pct)
	pct = slices.Compact(pct)
	v := &Verdict{Passed: true, Alpha: alpha, Rules: rules}
	cmpBase := base
	if cmpBase == nil {
		// Without a baseline, the comparison shows the candidate alone.
		cmpBase = &snapshot.Breakdown{}
	}
	c := compare.Compare(cmpBase, new, compare.Options{Alpha: alpha, Percentiles: pct, BaseLabel: opt.BaseLabel, NewLabel: opt.NewLabel})
	if base != nil {
		v.Comparison = c
		v.Warnings = c.Warnings
	}
	e := &evaluator{v: v, c: c, base: base, new: new}
	e.holm()
	for _, r := range rules.Rules {
		out := e.rule(r)
		switch {
		case out.Status == Fail && r.Severity == SeverityWarning:
			out.Status = Warn
		case out.Status == Fail:
			v.Failed++
			v.Passed = false
		}
		v.Outcomes = append(v.Outcomes, out)
	}
	return v, nil
}

type evaluator struct {
	v         *Verdict
	c         *compare.Comparison
	base, new *snapshot.Breakdown
	adjusted  map[*compare.DistComparison]float64
}

// targets returns the compared distributions a rule names.
func (e *evaluator) targets(r Rule) []*compare.DistComparison {
	var out []*compare.DistComparison
	for i := range e.c.Dists {
		d := &e.c.Dists[i]
		if d.Scope != r.Scope {
			continue
		}
		if r.Scope == compare.ScopeRequest || r.Matches(d.Name) {
			out = append(out, d)
		}
	}
	return out
}

// holm computes Holm–Bonferroni adjusted p-values over the distinct
// distributions the regression rules test.
func (e *evaluator) holm() {
	e.adjusted = map[*compare.DistComparison]float64{}
	if e.base == nil {
		return
	}
	var fam []*compare.DistComparison
	for _, r := range e.v.Rules.Rules {
		if r.Kind != Regression {
			continue
		}
		for _, d := range e.targets(r) {
			if d.Base != nil && d.New != nil && d.Base.Count > 0 && d.New.Count > 0 && !slices.Contains(fam, d) {
				fam = append(fam, d)
			}
		}
	}
	slices.SortStableFunc(fam, func(a, b *compare.DistComparison) int { return cmp.Compare(a.Test.Slower(), b.Test.Slower()) })
	m := len(fam)
	e.v.Family = m
	running := 0.0
	for i, d := range fam {
		adj := min(1, float64(m-i)*d.Test.Slower())
		running = max(running, adj)
		e.adjusted[d] = running
	}
}

func (e *evaluator) rule(r Rule) Outcome {
	out := Outcome{Rule: r, Status: Pass}
	switch r.Kind {
	case MinRequests:
		sides := []struct {
			name string
			b    *snapshot.Breakdown
		}{{"baseline", e.base}, {"candidate", e.new}}
		for _, s := range sides {
			if s.b == nil {
				continue
			}
			n := float64(s.b.Requests.Latency.Count)
			ch := Check{Scope: compare.ScopeRequest, Name: "request", Side: s.name, Value: n, Failed: !holds(n, r.Op, r.Limit)}
			out.Checks = append(out.Checks, ch)
		}
	case Absolute, Share, Regression:
		ds := e.targets(r)
		if len(ds) == 0 {
			what := r.Scope + " " + fmt.Sprintf("%q", r.Name)
			if r.Wildcard() {
				out.Status = Skip
				out.Note = "no " + r.Scope + " matches " + fmt.Sprintf("%q", r.Name)
				return out
			}
			out.Status = Fail
			out.Note = "no " + what + " in " + e.c.NewLabel + e.nameHint(r.Scope)
			return out
		}
		var reqDist *compare.DistComparison
		if r.Kind == Share {
			reqDist = &e.c.Dists[0]
		}
		for _, d := range ds {
			row := e.c.Row(d, r.Percentile)
			ch := Check{Scope: d.Scope, Name: d.Name, Row: &row}
			switch r.Kind {
			case Absolute:
				if row.NewMs == nil {
					ch.Note = "no values in " + e.c.NewLabel
					break
				}
				ch.Value = *row.NewMs
				ch.Failed = !holds(ch.Value, r.Op, r.Limit)
			case Share:
				req := e.c.Row(reqDist, r.Percentile)
				if row.NewMs == nil || req.NewMs == nil || *req.NewMs == 0 {
					ch.Note = "no values in " + e.c.NewLabel
					break
				}
				ch.Value = *row.NewMs / *req.NewMs
				ch.Failed = !holds(ch.Value, r.Op, r.Limit)
			case Regression:
				switch {
				case row.BaseMs == nil || row.NewMs == nil:
					ch.Note = "not on both sides"
				case row.DeltaPct == nil:
					ch.Note = "0 in " + e.c.BaseLabel + ": no relative change"
				default:
					ch.Value = *row.DeltaPct
					adj, ok := e.adjusted[d]
					if !ok {
						adj = 1
					}
					ch.AdjustedP = &adj
					ch.Significant = adj < e.v.Alpha
					over := !holds(ch.Value, r.Op, r.Limit)
					ch.Failed = over && ch.Significant
					if over && !ch.Significant {
						ch.Note = "over the limit but not significant"
					}
				}
			}
			out.Checks = append(out.Checks, ch)
		}
	}
	if slices.ContainsFunc(out.Checks, func(c Check) bool { return c.Failed }) {
		out.Status = Fail
	}
	return out
}

func (e *evaluator) nameHint(scope string) string {
	var names []string
	for _, d := range e.c.Dists {
		if d.Scope == scope && d.New != nil {
			names = append(names, fmt.Sprintf("%q", d.Name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	if len(names) > 12 {
		names = append(names[:12], "…")
	}
	return " (there are " + joinComma(names) + ")"
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// holds evaluates "v op limit".
func holds(v float64, op string, limit float64) bool {
	switch op {
	case "<":
		return v < limit
	case "<=":
		return v <= limit
	case ">":
		return v > limit
	case ">=":
		return v >= limit
	}
	return false
}

// Deciding returns the check that decided a rule: the worst failing one,
// else the one closest to its limit, else the first; nil without checks.
func (o *Outcome) Deciding() *Check {
	rank := func(c *Check) (int, float64) {
		v := c.Value
		if o.Rule.Kind == MinRequests {
			v = -v // the smaller side is the closer
		}
		switch {
		case c.Failed:
			return 2, v
		case c.Note == "" && (o.Rule.Kind != Regression || c.AdjustedP != nil):
			return 1, v
		}
		return 0, 0
	}
	var best *Check
	for i := range o.Checks {
		c := &o.Checks[i]
		if best == nil {
			best = c
			continue
		}
		cr, cv := rank(c)
		br, bv := rank(best)
		if cr > br || cr == br && cv > bv {
			best = c
		}
	}
	return best
}
