package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/trace-forensics/trace-forensics/compare"
)

// CompareSchemaVersion is the version of compare's JSON contract. Fields
// are only ever added.
const CompareSchemaVersion = 1

// CompareRenderer writes a comparison in one format.
type CompareRenderer func(w io.Writer, c *compare.Comparison) error

// CompareFormats maps compare's --format names to renderers.
var CompareFormats = map[string]CompareRenderer{
	"table":    CompareTable,
	"json":     CompareJSON,
	"markdown": CompareMarkdown,
}

// CompareFormatNames lists compare's formats for help texts.
var CompareFormatNames = []string{"table", "json", "markdown"}

// compareJSON is the v1 contract (README "Comparing").
type compareJSON struct {
	SchemaVersion int              `json:"schema_version"`
	Rows          []compareRowJSON `json:"rows"`
	Warnings      []string         `json:"warnings"`
}

type compareRowJSON struct {
	Scope       string   `json:"scope"`
	Name        string   `json:"name"`
	Quantile    string   `json:"quantile"`
	BaseMs      *float64 `json:"base_ms"`
	NewMs       *float64 `json:"new_ms"`
	DeltaPct    *float64 `json:"delta_pct"`
	PValue      *float64 `json:"p_value"`
	Significant bool     `json:"significant"`
	BaseN       int64    `json:"base_n"`
	NewN        int64    `json:"new_n"`
}

func compareContract(c *compare.Comparison) compareJSON {
	out := compareJSON{SchemaVersion: CompareSchemaVersion, Rows: []compareRowJSON{}, Warnings: nonNil(c.Warnings)}
	for _, r := range c.Rows() {
		out.Rows = append(out.Rows, compareRowJSON{
			Scope: r.Scope, Name: r.Name, Quantile: r.Quantile(),
			BaseMs: r.BaseMs, NewMs: r.NewMs, DeltaPct: round2(r.DeltaPct), PValue: sig6(r.PValue),
			Significant: r.Significant, BaseN: r.BaseN, NewN: r.NewN,
		})
	}
	return out
}

func round2(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := math.Round(*f*100) / 100
	return &v
}

// sig6 keeps six significant digits: p-values from the normal
// approximation differ in their last bits between CPUs.
func sig6(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(*f, 'g', 6, 64), 64)
	return &v
}

// CompareJSON writes the comparison as the versioned JSON contract:
// {"schema_version":1,"rows":[…],"warnings":[…]}.
func CompareJSON(w io.Writer, c *compare.Comparison) error {
	return encodeJSON(w, compareContract(c))
}

// compareHeadline says what is compared with what and how.
func compareHeadline(c *compare.Comparison) []string {
	var nb, nn int64
	if len(c.Dists) > 0 {
		nb, nn = c.Dists[0].Rows[0].BaseN, c.Dists[0].Rows[0].NewN
	}
	return []string{
		fmt.Sprintf("Comparing %s (%d %s) with %s (%d %s).", c.BaseLabel, nb, plural(int(nb), "request", "requests"), c.NewLabel, nn, plural(int(nn), "request", "requests")),
		fmt.Sprintf("Mann–Whitney U test per distribution, α = %g: ~ marks a change that is not significant.", c.Alpha),
	}
}

// compareSection is one table: the request and the stages (times per
// request), or the operations (durations per span).
type compareSection struct {
	title string
	head  []string
	rows  [][]string
}

func compareSections(c *compare.Comparison) []compareSection {
	stages := compareSection{title: "Requests and stages: time per request (a stage's time on the critical path)", head: compareHead(c, "stage")}
	ops := compareSection{title: "Operations: duration per span", head: compareHead(c, "operation")}
	for i := range c.Dists {
		d := &c.Dists[i]
		switch d.Scope {
		case compare.ScopeOperation:
			ops.rows = append(ops.rows, compareCellsOf(d))
		default:
			stages.rows = append(stages.rows, compareCellsOf(d))
		}
	}
	out := []compareSection{stages}
	if len(ops.rows) > 0 {
		out = append(out, ops)
	}
	return out
}

// compareHead and compareCellsOf are a table's columns: the name, per
// percentile "old → new" and the change, the p-value and the sizes.
func compareHead(c *compare.Comparison, what string) []string {
	head := []string{what}
	for _, p := range c.Percentiles {
		q := compare.QuantileName(p)
		head = append(head, q, "Δ "+q)
	}
	return append(head, "p", "n")
}

func compareCellsOf(d *compare.DistComparison) []string {
	name := d.Name
	if d.Scope == compare.ScopeRequest {
		name = "request (end to end)"
	}
	row := []string{name}
	for _, r := range d.Rows {
		row = append(row, oldNew(r.BaseMs, r.NewMs), deltaCell(&r))
	}
	p := ""
	if d.Base != nil && d.New != nil {
		p = pValue(d.Test.P)
	}
	return append(row, p, fmt.Sprintf("%d+%d", d.Rows[0].BaseN, d.Rows[0].NewN))
}

func oldNew(base, new *float64) string {
	b, n := "–", "–"
	if base != nil {
		b = Duration(*base)
	}
	if new != nil {
		n = Duration(*new)
	}
	return b + " → " + n
}

// deltaCell is the change in percent when significant, ~ when not.
func deltaCell(r *compare.Row) string {
	switch {
	case r.BaseMs == nil:
		return "new"
	case r.NewMs == nil:
		return "gone"
	case !r.Significant:
		return "~"
	case r.DeltaPct == nil:
		if *r.NewMs == 0 {
			return "0%"
		}
		return "from 0"
	}
	return signedPct(*r.DeltaPct)
}

func signedPct(p float64) string {
	s := strconv.FormatFloat(p, 'f', 1, 64)
	if s == "-0.0" {
		s = "0.0"
	}
	if p > 0 && s != "0.0" {
		s = "+" + s
	}
	return s + "%"
}

// pValue prints a p-value as benchstat does, three decimals.
func pValue(p float64) string { return "p=" + strconv.FormatFloat(p, 'f', 3, 64) }

// CompareTable writes the comparison as text tables for a terminal.
func CompareTable(w io.Writer, c *compare.Comparison) error {
	for _, l := range compareHeadline(c) {
		fmt.Fprintln(w, l)
	}
	for _, sec := range compareSections(c) {
		fmt.Fprintf(w, "\n%s\n", sec.title)
		if err := renderTable(w, sec.head, sec.rows, 1); err != nil {
			return err
		}
	}
	if len(c.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings")
		for _, s := range c.Warnings {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	return nil
}

// CompareMarkdown writes the comparison as GitHub-flavoured Markdown.
func CompareMarkdown(w io.Writer, c *compare.Comparison) error {
	fmt.Fprintln(w, "## Latency comparison")
	fmt.Fprintln(w)
	compareMarkdownBody(w, c)
	return nil
}

func compareMarkdownBody(w io.Writer, c *compare.Comparison) {
	fmt.Fprintln(w, strings.Join(compareHeadline(c), "\n"))
	for _, sec := range compareSections(c) {
		fmt.Fprintf(w, "\n**%s**\n\n", mdEscape(sec.title))
		mdTable(w, sec.head, sec.rows, 1)
	}
	if len(c.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, s := range c.Warnings {
			fmt.Fprintf(w, "- ⚠️ %s\n", mdEscape(s))
		}
	}
}
