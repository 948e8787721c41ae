package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// Coverage reports say where the critical path runs through time that no
// child span explains: a parent's own time on the path. That is where span
// boundaries are missing, and the first places to add them.

func gapText(g analyze.Gap) string {
	if g.Share == 0 {
		return ""
	}
	end := func(op, stage, none string) string {
		switch {
		case op == "":
			return none
		case stage != "":
			return stage + " (" + op + ")"
		}
		return op
	}
	return fmt.Sprintf("%s between %s and %s", Percent(g.Share), end(g.After, g.AfterStage, "the start"), end(g.Before, g.BeforeStage, "the end"))
}

func coverageRows(r *analyze.Result) ([]string, [][]string) {
	head := []string{"service", "operation", "stage", "share"}
	for _, p := range r.Percentiles {
		head = append(head, "of "+analyze.PercentileKey(p))
	}
	head = append(head, pctHeaders("untraced ", r.Percentiles)...)
	head = append(head, "most of it")
	var rows [][]string
	for _, u := range r.Coverage.Operations {
		row := []string{u.Service, u.Operation, u.Stage, Percent(u.Share)}
		for _, f := range u.ShareOfRequest {
			row = append(row, Percent(f))
		}
		row = append(row, durations(u.Summary)...)
		row = append(row, gapText(u.Gap))
		rows = append(rows, row)
	}
	return head, rows
}

func coverageStageRows(r *analyze.Result) ([]string, [][]string) {
	head := append([]string{"stage", "untraced share"}, pctHeaders("untraced ", r.Percentiles)...)
	var rows [][]string
	for _, s := range r.Stages {
		if s.UntracedShare == 0 && s.Untraced.Max == 0 {
			continue
		}
		rows = append(rows, append([]string{stageName(s), Percent(s.UntracedShare)}, durations(s.Untraced)...))
	}
	return head, rows
}

func coverageHeadline(r *analyze.Result) string {
	c := r.Coverage
	parts := []string{}
	for i, p := range r.Percentiles {
		parts = append(parts, fmt.Sprintf("%s of %s", Percent(c.ShareOfRequest[i]), analyze.PercentileKey(p)))
	}
	return fmt.Sprintf("Untraced time (a parent span's own time on the critical path, which no child span explains): %s of the end-to-end latency; %s.",
		Percent(c.UntracedShare), strings.Join(parts, ", "))
}

// CoverageTable writes the coverage report for a terminal.
func CoverageTable(w io.Writer, r *analyze.Result) error {
	fmt.Fprintf(w, "%s\n\n", headline(r))
	if r.Requests.Summary.Count == 0 {
		fmt.Fprintln(w, "No request counted: nothing to cover.")
		writeWarningsText(w, r)
		return nil
	}
	fmt.Fprintln(w, coverageHeadline(r))
	fmt.Fprintf(w, "\nUntraced time inside parent operations, largest first (%d operations)\n", len(r.Coverage.Operations))
	head, rows := coverageRows(r)
	align := make([]tw.Align, len(head))
	for i := range align {
		align[i] = tw.AlignRight
	}
	align[0], align[1], align[2], align[len(align)-1] = tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft
	if err := renderAligned(w, head, rows, align); err != nil {
		return err
	}
	head, rows = coverageStageRows(r)
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nBy stage")
		if err := renderTable(w, head, rows, 1); err != nil {
			return err
		}
	}
	if len(r.Coverage.MissingStages) > 0 {
		fmt.Fprintf(w, "\nExpected stages that never appear: %s\n", strings.Join(r.Coverage.MissingStages, ", "))
	}
	writeWarningsText(w, r)
	return nil
}

// CoverageMarkdown writes the coverage report as Markdown.
func CoverageMarkdown(w io.Writer, r *analyze.Result) error {
	fmt.Fprintf(w, "## Missing instrumentation\n\n%s.\n\n", headline(r))
	if r.Requests.Summary.Count > 0 {
		fmt.Fprintf(w, "%s\n\n", coverageHeadline(r))
		fmt.Fprintln(w, "### Untraced time inside parent operations")
		fmt.Fprintln(w)
		head, rows := coverageRows(r)
		mdTable(w, head, rows, 3)
		if head, rows := coverageStageRows(r); len(rows) > 0 {
			fmt.Fprintln(w, "\n### By stage")
			fmt.Fprintln(w)
			mdTable(w, head, rows, 1)
		}
		if len(r.Coverage.MissingStages) > 0 {
			fmt.Fprintf(w, "\nExpected stages that never appear: %s\n", strings.Join(r.Coverage.MissingStages, ", "))
		}
	}
	markdownWarnings(w, r)
	return nil
}

type coverageJSON struct {
	SchemaVersion  int            `json:"schema_version"`
	Traces         int            `json:"traces"`
	Spans          int            `json:"spans"`
	Requests       requestJSON    `json:"requests"`
	UntracedShare  float64        `json:"untraced_share"`
	UntracedMs     summary        `json:"untraced_ms"`
	ShareOfRequest shares         `json:"share_of_request"`
	Untraced       []untracedJSON `json:"untraced"`
	MissingStages  []missingStage `json:"missing_stages"`
	Warnings       []warningJSON  `json:"warnings"`
	Percentiles    []string       `json:"percentiles"`
}

// untracedJSON is one row of untraced time: of a parent operation (scope
// "operation") or of a stage's parent spans (scope "stage").
type untracedJSON struct {
	Scope          string   `json:"scope"`
	Service        string   `json:"service,omitempty"`
	Operation      string   `json:"operation,omitempty"`
	Stage          string   `json:"stage"`
	Requests       int64    `json:"requests"`
	UntracedMs     summary  `json:"untraced_ms"`
	Share          float64  `json:"share"`
	ShareOfRequest shares   `json:"share_of_request"`
	LargestGap     *gapJSON `json:"largest_gap,omitempty"`
}

type gapJSON struct {
	After       string  `json:"after"` // the child that ended before the gap; "" for the parent's start
	AfterStage  string  `json:"after_stage"`
	Before      string  `json:"before"` // the child that started after it; "" for the parent's end
	BeforeStage string  `json:"before_stage"`
	Share       float64 `json:"share"`
}

// CoverageJSON writes the coverage report as JSON.
func CoverageJSON(w io.Writer, r *analyze.Result) error {
	c := r.Coverage
	out := coverageJSON{SchemaVersion: SchemaVersion, Traces: r.Traces, Spans: r.Spans,
		Requests:       requestJSONOf(r, r.Requests),
		UntracedShare:  round6(c.UntracedShare),
		UntracedMs:     summary{r.Percentiles, c.Untraced},
		ShareOfRequest: shares{r.Percentiles, c.ShareOfRequest},
		Untraced:       []untracedJSON{}, MissingStages: missingStages(c.MissingStages), Warnings: []warningJSON{}}
	for _, p := range r.Percentiles {
		out.Percentiles = append(out.Percentiles, analyze.PercentileKey(p))
	}
	for _, u := range c.Operations {
		uj := untracedJSON{Scope: "operation", Service: u.Service, Operation: u.Operation, Stage: u.Stage, Requests: u.Requests,
			UntracedMs: summary{r.Percentiles, u.Summary}, Share: round6(u.Share), ShareOfRequest: shares{r.Percentiles, u.ShareOfRequest}}
		if u.Gap.Share > 0 {
			uj.LargestGap = &gapJSON{After: u.Gap.After, AfterStage: u.Gap.AfterStage, Before: u.Gap.Before, BeforeStage: u.Gap.BeforeStage, Share: round6(u.Gap.Share)}
		}
		out.Untraced = append(out.Untraced, uj)
	}
	for _, s := range r.Stages {
		if s.Untraced.Max == 0 {
			continue
		}
		out.Untraced = append(out.Untraced, untracedJSON{Scope: "stage", Stage: s.Stage, Requests: s.Requests,
			UntracedMs: summary{r.Percentiles, s.Untraced}, Share: round6(s.UntracedShare),
			ShareOfRequest: shares{r.Percentiles, s.UntracedShareOfRequest}})
	}
	for _, wc := range r.Warnings {
		out.Warnings = append(out.Warnings, warningJSON(wc))
	}
	return encodeJSON(w, out)
}

// renderAligned draws a table with an alignment per column.
func renderAligned(w io.Writer, head []string, rows [][]string, align []tw.Align) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	t.Header(head)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}
