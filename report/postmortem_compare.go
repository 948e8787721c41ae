package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/gate"
)

// ComparisonOf turns a comparison (package compare) into the postmortem's
// comparison section: what changed end to end and in which stages, in
// words, then a table of the request and stage rows.
func ComparisonOf(c *compare.Comparison) *Comparison {
	if c == nil {
		return nil
	}
	out := &Comparison{Title: fmt.Sprintf("Compared with %s", c.BaseLabel)}
	if d := c.Find(compare.ScopeRequest, "request"); d != nil {
		var parts []string
		for _, r := range d.Rows {
			if slices.Contains([]float64{50, 95, 99}, r.Percentile) {
				parts = append(parts, fmt.Sprintf("%s %s", r.Quantile(), pmChange(&r)))
			}
		}
		if len(parts) > 0 {
			out.Lines = append(out.Lines, fmt.Sprintf("End to end, %s → %s: %s (Mann–Whitney U test, α = %g).", c.BaseLabel, c.NewLabel, strings.Join(parts, "; "), c.Alpha))
		}
		for _, r := range d.Rows {
			if r.Percentile == pmRef(c.Percentiles) {
				out.Headline = fmt.Sprintf("Against %s, end-to-end %s went %s.", c.BaseLabel, r.Quantile(), pmChange(&r))
			}
		}
	}
	// The stages whose change is significant, largest first.
	type moved struct {
		name string
		row  compare.Row
	}
	var ms []moved
	ref := pmRef(c.Percentiles)
	for _, d := range c.Dists {
		if d.Scope != compare.ScopeStage {
			continue
		}
		for _, r := range d.Rows {
			if r.Percentile == ref && r.Significant && r.BaseMs != nil && r.NewMs != nil {
				ms = append(ms, moved{d.Name, r})
			}
		}
	}
	slices.SortFunc(ms, func(a, b moved) int {
		return cmp.Compare(math.Abs(*b.row.NewMs-*b.row.BaseMs), math.Abs(*a.row.NewMs-*a.row.BaseMs))
	})
	if len(ms) > 0 {
		var parts []string
		for _, m := range ms[:min(3, len(ms))] {
			parts = append(parts, fmt.Sprintf("%s %s", m.name, pmChange(&m.row)))
		}
		out.Lines = append(out.Lines, fmt.Sprintf("Stages that changed at %s: %s.", compare.QuantileName(ref), strings.Join(parts, "; ")))
	} else {
		out.Lines = append(out.Lines, fmt.Sprintf("No stage changed significantly at %s.", compare.QuantileName(ref)))
	}
	for _, w := range c.Warnings {
		if !strings.HasSuffix(w, ".") {
			w += "."
		}
		out.Lines = append(out.Lines, w)
	}
	out.Tables = append(out.Tables, pmCompareTable(c))
	return out
}

// pmChange says "1.2s → 1.5s (+25%, significant)".
func pmChange(r *compare.Row) string {
	if r.BaseMs == nil || r.NewMs == nil {
		return "not on both sides"
	}
	s := Duration(*r.BaseMs) + " → " + Duration(*r.NewMs)
	var notes []string
	if r.DeltaPct != nil {
		notes = append(notes, pmSignedPct(*r.DeltaPct))
	}
	if r.PValue != nil {
		if r.Significant {
			notes = append(notes, "significant")
		} else {
			notes = append(notes, "not significant")
		}
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

func pmSignedPct(p float64) string {
	if p >= 0 {
		return fmt.Sprintf("+%.1f%%", p)
	}
	return fmt.Sprintf("−%.1f%%", -p)
}

// pmCompareTable has a row per request and stage distribution: each
// percentile old → new, and the test.
func pmCompareTable(c *compare.Comparison) *ReportTable {
	t := &ReportTable{Head: []string{"distribution", "requests"}, Numeric: 1}
	for _, p := range c.Percentiles {
		t.Head = append(t.Head, compare.QuantileName(p), "Δ "+compare.QuantileName(p))
	}
	t.Head = append(t.Head, "p-value")
	for _, d := range c.Dists {
		if d.Scope == compare.ScopeOperation {
			continue
		}
		name := d.Name
		if d.Scope == compare.ScopeRequest {
			name = "end to end"
		}
		var bn, nn int64
		if d.Base != nil {
			bn = d.Base.Count
		}
		if d.New != nil {
			nn = d.New.Count
		}
		row := []ReportCell{pmText(name), {Text: pmCount(bn) + " → " + pmCount(nn), Sort: float64(nn)}}
		for _, p := range c.Percentiles {
			var r *compare.Row
			for i := range d.Rows {
				if d.Rows[i].Percentile == p {
					r = &d.Rows[i]
				}
			}
			if r == nil || r.BaseMs == nil || r.NewMs == nil {
				row = append(row, pmText("—"), pmText("—"))
				continue
			}
			row = append(row, ReportCell{Text: Duration(*r.BaseMs) + " → " + Duration(*r.NewMs), Sort: *r.NewMs})
			delta := ReportCell{Text: "—", Sort: math.NaN()}
			if r.DeltaPct != nil {
				delta = ReportCell{Text: pmSignedPct(*r.DeltaPct), Sort: *r.DeltaPct}
				if r.Significant {
					delta.Text += " *"
				}
			}
			row = append(row, delta)
		}
		pv := ReportCell{Text: "—", Sort: math.NaN()}
		if d.Test.N1 > 0 && d.Test.N2 > 0 {
			pv = ReportCell{Text: pmP(d.Test.P), Sort: d.Test.P}
		}
		t.Rows = append(t.Rows, append(row, pv))
	}
	t.Caption = fmt.Sprintf("%s → %s; * marks a significant change (α = %g)", c.BaseLabel, c.NewLabel, c.Alpha)
	return t
}

func pmP(p float64) string {
	if p >= 0.01 {
		return fmt.Sprintf("%.2f", p)
	}
	return fmt.Sprintf("%.1g", p)
}

// GateOf turns a gate verdict into the postmortem's comparison section:
// the verdict, why each rule failed or passed, and the comparison it
// judged.
func GateOf(v *gate.Verdict) *Comparison {
	if v == nil {
		return nil
	}
	out := &Comparison{Title: "Latency gate", Verdict: "pass"}
	if !v.Passed {
		out.Verdict = "fail"
	}
	failed, warned := 0, 0
	t := &ReportTable{Head: []string{"rule", "status", "why"}, Numeric: 99}
	for i := range v.Outcomes {
		o := &v.Outcomes[i]
		switch o.Status {
		case gate.Fail:
			failed++
		case gate.Warn:
			warned++
		}
		t.Rows = append(t.Rows, []ReportCell{{Text: o.Rule.Text, Code: true, Sort: math.NaN()}, pmText(strings.ToUpper(string(o.Status))), pmText(OutcomeText(o, v))})
	}
	n := len(v.Outcomes)
	switch {
	case failed > 0:
		out.Lines = append(out.Lines, fmt.Sprintf("%d of %d rules failed.", failed, n))
	case warned > 0:
		out.Lines = append(out.Lines, fmt.Sprintf("All %d error rules held; %d warning rules failed.", n-warned, warned))
	default:
		out.Lines = append(out.Lines, fmt.Sprintf("All %d rules held.", n))
	}
	why := out.Lines[0]
	if why != "" {
		why = strings.ToLower(why[:1]) + why[1:]
	}
	out.Headline = "The latency gate passed: " + why
	if !v.Passed {
		out.Headline = "The latency gate failed: " + why
	}
	out.Tables = append(out.Tables, t)
	if c := ComparisonOf(v.Comparison); c != nil {
		out.Lines = append(out.Lines, c.Lines...)
		out.Tables = append(out.Tables, c.Tables...)
	}
	return out
}
