package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/gate"
)

// GateSchemaVersion is the version of gate's JSON output. Fields are only
// ever added.
const GateSchemaVersion = 1

// GateRenderer writes a gate verdict in one format.
type GateRenderer func(w io.Writer, v *gate.Verdict) error

// GateFormats maps gate's --format names to renderers.
var GateFormats = map[string]GateRenderer{
	"table":    GateTable,
	"json":     GateJSON,
	"markdown": GateMarkdown,
}

// GateFormatNames lists gate's formats for help texts.
var GateFormatNames = []string{"table", "json", "markdown"}

// CheckText says in a line what one check found: the figure, the limit
// and, for regressions, the test.
func CheckText(r *gate.Rule, c *gate.Check, v *gate.Verdict) string {
	name := c.Name
	if c.Scope == compare.ScopeRequest {
		name = "request"
	}
	q := compare.QuantileName(r.Percentile)
	switch r.Kind {
	case gate.MinRequests:
		return fmt.Sprintf("%s: %d requests (limit %s %g)", c.Side, int64(c.Value), r.Op, r.Limit)
	case gate.Absolute:
		if c.Note != "" {
			return name + ": " + c.Note
		}
		return fmt.Sprintf("%s: %s %s (limit %s %s)", name, q, Duration(c.Value), r.Op, Duration(r.Limit))
	case gate.Share:
		if c.Note != "" {
			return name + ": " + c.Note
		}
		return fmt.Sprintf("%s: %s is %s of the request's %s (limit %s %s)", name, q, strconv.FormatFloat(round6(c.Value), 'f', 3, 64), q, r.Op, strconv.FormatFloat(r.Limit, 'f', -1, 64))
	}
	// Regression.
	s := fmt.Sprintf("%s: %s %s", name, q, oldNew(c.Row.BaseMs, c.Row.NewMs))
	if c.AdjustedP == nil {
		return s + " (" + c.Note + ")"
	}
	sig := "not significant"
	if c.Significant {
		sig = "significant"
	}
	p := "p"
	if v.Family > 1 {
		p = "adjusted p"
	}
	s += fmt.Sprintf(", %s (limit %s %s%%), %s=%s: %s", signedPct(c.Value), r.Op, strconv.FormatFloat(r.Limit, 'f', -1, 64), p, pShort(*c.AdjustedP), sig)
	return s
}

// pShort prints an adjusted p-value with two significant digits.
func pShort(p float64) string {
	if p >= 0.01 {
		return strconv.FormatFloat(p, 'f', 2, 64)
	}
	return strconv.FormatFloat(p, 'g', 2, 64)
}

// OutcomeText says in a line why a rule passed or failed: its deciding
// check, and how many more failed.
func OutcomeText(o *gate.Outcome, v *gate.Verdict) string {
	c := o.Deciding()
	if c == nil {
		return o.Note
	}
	s := CheckText(&o.Rule, c, v)
	failed := 0
	for _, x := range o.Checks {
		if x.Failed {
			failed++
		}
	}
	if failed > 1 {
		s += fmt.Sprintf(" (and %d more failing)", failed-1)
	} else if failed == 0 && len(o.Checks) > 1 {
		s = "closest: " + s
	}
	return s
}

func statusCell(s gate.Status) string {
	switch s {
	case gate.Fail:
		return "FAIL"
	case gate.Warn:
		return "WARN"
	}
	return string(s)
}

// verdictLine is the last line of a gate report.
func verdictLine(v *gate.Verdict) string {
	n := len(v.Outcomes)
	if v.Passed {
		warned := 0
		for _, o := range v.Outcomes {
			if o.Status == gate.Warn {
				warned++
			}
		}
		s := fmt.Sprintf("PASS: %d %s held", n, plural(n, "rule", "rules"))
		if warned > 0 {
			s = fmt.Sprintf("PASS: %d of %d rules held, %d warning %s failed", n-warned, n, warned, plural(warned, "rule", "rules"))
		}
		return s
	}
	var failed []string
	for _, o := range v.Outcomes {
		if o.Status == gate.Fail {
			failed = append(failed, o.Rule.Text)
		}
	}
	return fmt.Sprintf("FAIL: %d of %d rules failed: %s", v.Failed, n, strings.Join(failed, "; "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// gateIntro says which rules apply and how regressions are judged.
func gateIntro(v *gate.Verdict) []string {
	var out []string
	if v.Rules.Default {
		out = append(out, "No --rules given: the default rules apply.")
	}
	s := fmt.Sprintf("Regression rules fail only when the change is over the limit and significant: a one-sided Mann–Whitney U test (slower), α = %g", v.Alpha)
	if v.Family > 1 {
		s += fmt.Sprintf(", Holm-corrected over the %d distributions they test", v.Family)
	}
	return append(out, s+".")
}

// GateTable writes the comparison, then the rules and the verdict.
func GateTable(w io.Writer, v *gate.Verdict) error {
	if v.Comparison != nil {
		if err := CompareTable(w, v.Comparison); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Latency gate")
	for _, l := range gateIntro(v) {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	var rows [][]string
	for i := range v.Outcomes {
		o := &v.Outcomes[i]
		rows = append(rows, []string{statusCell(o.Status), o.Rule.Text, OutcomeText(o, v)})
	}
	if err := renderTable(w, []string{"result", "rule", "observed"}, rows, 99); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", verdictLine(v))
	return nil
}

// GateMarkdown writes the verdict first (for a pull request or a job
// summary), then the comparison.
func GateMarkdown(w io.Writer, v *gate.Verdict) error {
	icon := "✅"
	if !v.Passed {
		icon = "❌"
	}
	fmt.Fprintf(w, "## %s Latency gate\n\n**%s**\n\n", icon, mdEscape(verdictLine(v)))
	fmt.Fprintln(w, strings.Join(gateIntro(v), "\n"))
	fmt.Fprintln(w)
	var rows [][]string
	for i := range v.Outcomes {
		o := &v.Outcomes[i]
		mark := map[gate.Status]string{gate.Pass: "✅ pass", gate.Fail: "❌ FAIL", gate.Warn: "⚠️ warn", gate.Skip: "➖ skip"}[o.Status]
		rows = append(rows, []string{mark, "`" + strings.ReplaceAll(o.Rule.Text, "`", "'") + "`", OutcomeText(o, v)})
	}
	mdTable(w, []string{"result", "rule", "observed"}, rows, 99)
	if v.Comparison != nil {
		fmt.Fprintln(w, "\n### Comparison")
		fmt.Fprintln(w)
		compareMarkdownBody(w, v.Comparison)
	}
	return nil
}

type gateJSON struct {
	SchemaVersion int            `json:"schema_version"`
	Passed        bool           `json:"passed"`
	Alpha         float64        `json:"alpha"`
	DefaultRules  bool           `json:"default_rules"`
	HolmFamily    int            `json:"holm_family"`
	Failed        int            `json:"failed"`
	Rules         []gateRuleJSON `json:"rules"`
	Comparison    *compareJSON   `json:"comparison"`
	Warnings      []string       `json:"warnings"`
}

type gateRuleJSON struct {
	Rule     string          `json:"rule"`
	Severity string          `json:"severity"`
	Status   string          `json:"status"`
	Line     int             `json:"line,omitempty"`
	Summary  string          `json:"summary"`
	Checks   []gateCheckJSON `json:"checks"`
}

type gateCheckJSON struct {
	Scope       string   `json:"scope"`
	Name        string   `json:"name"`
	Side        string   `json:"side,omitempty"`
	Quantile    string   `json:"quantile,omitempty"`
	Value       float64  `json:"value"`
	BaseMs      *float64 `json:"base_ms,omitempty"`
	NewMs       *float64 `json:"new_ms,omitempty"`
	DeltaPct    *float64 `json:"delta_pct,omitempty"`
	PAdjusted   *float64 `json:"p_adjusted,omitempty"`
	Significant bool     `json:"significant"`
	Failed      bool     `json:"failed"`
	Note        string   `json:"note,omitempty"`
}

// GateJSON writes the verdict with the comparison (compare's contract) in
// one document.
func GateJSON(w io.Writer, v *gate.Verdict) error {
	out := gateJSON{SchemaVersion: GateSchemaVersion, Passed: v.Passed, Alpha: v.Alpha, DefaultRules: v.Rules.Default,
		HolmFamily: v.Family, Failed: v.Failed, Rules: []gateRuleJSON{}, Warnings: nonNil(v.Warnings)}
	if v.Comparison != nil {
		c := compareContract(v.Comparison)
		out.Comparison = &c
	}
	for i := range v.Outcomes {
		o := &v.Outcomes[i]
		rj := gateRuleJSON{Rule: o.Rule.Text, Severity: o.Rule.Severity, Status: string(o.Status), Line: o.Rule.Line,
			Summary: OutcomeText(o, v), Checks: []gateCheckJSON{}}
		for _, c := range o.Checks {
			cj := gateCheckJSON{Scope: c.Scope, Name: c.Name, Side: c.Side, Value: round6(c.Value), PAdjusted: sig6(c.AdjustedP),
				Significant: c.Significant, Failed: c.Failed, Note: c.Note}
			if c.Row != nil {
				cj.Quantile = c.Row.Quantile()
				cj.BaseMs, cj.NewMs, cj.DeltaPct = c.Row.BaseMs, c.Row.NewMs, round2(c.Row.DeltaPct)
			}
			rj.Checks = append(rj.Checks, cj)
		}
		out.Rules = append(out.Rules, rj)
	}
	return encodeJSON(w, out)
}

// JUnit writes the verdict as JUnit XML, one testcase per rule, for CI
// systems that show test reports.
func JUnit(w io.Writer, v *gate.Verdict) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type suites struct {
		XMLName  xml.Name `xml:"testsuites"`
		Name     string   `xml:"name,attr"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suite    suite    `xml:"testsuite"`
	}
	s := suite{Name: "latency gate", Tests: len(v.Outcomes)}
	for i := range v.Outcomes {
		o := &v.Outcomes[i]
		tc := testcase{Name: o.Rule.Text, Classname: "trace-forensics.gate"}
		var detail []string
		for _, c := range o.Checks {
			mark := "ok  "
			if c.Failed {
				mark = "FAIL"
			}
			detail = append(detail, mark+" "+CheckText(&o.Rule, &c, v))
		}
		text := strings.Join(detail, "\n")
		switch o.Status {
		case gate.Fail:
			s.Failures++
			tc.Failure = &failure{Message: OutcomeText(o, v), Type: "latency", Text: text}
		case gate.Skip:
			s.Skipped++
			tc.Skipped = &skipped{Message: o.Note}
		case gate.Warn:
			tc.SystemOut = "warning: " + OutcomeText(o, v) + "\n" + text
		default:
			tc.SystemOut = text
		}
		s.Cases = append(s.Cases, tc)
	}
	out := suites{Name: "trace-forensics gate", Tests: s.Tests, Failures: s.Failures, Suite: s}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// GitHubAnnotations writes GitHub Actions workflow commands: an ::error
// for each failed rule (pointing at its line of the rules file), a
// ::warning for each failed warning rule and each comparison warning.
func GitHubAnnotations(w io.Writer, v *gate.Verdict) error {
	for i := range v.Outcomes {
		o := &v.Outcomes[i]
		kind := ""
		switch o.Status {
		case gate.Fail:
			kind = "error"
		case gate.Warn:
			kind = "warning"
		default:
			continue
		}
		where := ""
		if v.Rules.Path != "" && o.Rule.Line > 0 {
			where = fmt.Sprintf("file=%s,line=%d,", ghProperty(v.Rules.Path), o.Rule.Line)
		}
		fmt.Fprintf(w, "::%s %stitle=%s::%s\n", kind, where, ghProperty("Latency gate: "+o.Rule.Text), ghData(OutcomeText(o, v)))
	}
	for _, s := range v.Warnings {
		fmt.Fprintf(w, "::warning title=%s::%s\n", ghProperty("Latency comparison"), ghData(s))
	}
	return nil
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
