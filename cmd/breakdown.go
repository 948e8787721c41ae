package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/report"
)

// BreakdownOptions are the inputs of `trace-forensics breakdown`.
type BreakdownOptions struct {
	IO          IO
	Source      sourceOptions
	Filter      filterOptions
	Format      string
	Output      string
	Percentiles string
	Exemplars   int
	Quiet       bool
	Now         func() time.Time
}

// NewCmdBreakdown builds the command; runF replaces the run function in tests.
func NewCmdBreakdown(io IO, runF func(*BreakdownOptions) error) *cobra.Command {
	opts := &BreakdownOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "breakdown [flags] SOURCE...",
		Short: "Break request latency down by operation: p50/p95/p99 of inclusive and self time",
		Long: `Reads traces and reports, per request and per operation (service + span name),
count, inclusive duration and self time percentiles, error rates and the IDs of
the slowest traces.

A SOURCE is a file, a directory (read recursively), a glob, or - for stdin.
Formats are recognised from the content, not the name: OTLP JSON documents,
the OpenTelemetry Collector file exporter's JSON Lines (spans of a trace spread
over many lines and files are joined back), Tempo's JSON, and gzip or zstd
compressed versions of them.

Attribute values (which can hold emails, prompts, user IDs) never appear in
any output: only service names, span names and trace IDs do.`,
		Example: `  trace-forensics breakdown traces.json
  trace-forensics breakdown --format json exports/ > breakdown.json
  cat spans.jsonl.gz | trace-forensics breakdown -
  trace-forensics breakdown --root-operation 'POST /v1/chat' --since 2h --percentiles 50,90,99.9 exports/
  trace-forensics breakdown --format markdown -o breakdown.md 'exports/*.jsonl.zst'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Source.args = args
			if runF != nil {
				return runF(opts)
			}
			return runBreakdown(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.Format, "format", "f", "table", "output format: "+strings.Join(report.FormatNames, ", "))
	fl.StringVarP(&opts.Output, "output", "o", "", "write the report to this file instead of stdout")
	fl.StringVar(&opts.Percentiles, "percentiles", "50,95,99", "percentiles to report, comma-separated")
	fl.IntVar(&opts.Exemplars, "exemplars", 5, "trace IDs of the slowest requests to keep per figure")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the input and data-quality summary on stderr")
	opts.Filter.bind(c)
	return c
}

func runBreakdown(ctx context.Context, opts *BreakdownOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	render, ok := report.Formats[opts.Format]
	if !ok {
		return usagef("--format: %q is not one of %s", opts.Format, strings.Join(report.FormatNames, ", "))
	}
	pct, err := parsePercentiles(opts.Percentiles)
	if err != nil {
		return usagef("--percentiles: %v", err)
	}
	if opts.Exemplars < 0 {
		return usagef("--exemplars: must not be negative")
	}
	filter, err := opts.Filter.filter(opts.Now())
	if err != nil {
		return err
	}
	ds, err := opts.Source.load(ctx, opts.IO)
	if err != nil {
		return err
	}
	res, err := analyze.Analyze(ds, analyze.Options{
		Percentiles: pct, Exemplars: max(opts.Exemplars, 1), Filter: filter, Release: true,
	})
	if err != nil {
		return err
	}
	if opts.Exemplars == 0 {
		clearExemplars(res)
	}
	if !opts.Quiet {
		writeSummary(opts.IO, res)
	}
	return writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return render(w, res) })
}

func clearExemplars(r *analyze.Result) {
	r.Requests.Exemplars = nil
	for i := range r.Operations {
		r.Operations[i].Exemplars = nil
	}
}

// writeReport renders to stdout, or to a file that appears only when the
// whole report was rendered.
func writeReport(io IO, path string, render func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	if path == "" || path == "-" {
		_, err := io.Out.Write(buf.Bytes())
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeSummary tells on stderr what was read and what was wrong with it.
func writeSummary(io IO, r *analyze.Result) {
	files := len(r.Inputs)
	fmt.Fprintf(io.Err, "read %d spans in %d traces from %d %s; %d requests counted\n",
		r.Spans, r.TracesRead, files, plural(files, "input", "inputs"), r.Requests.Summary.Count)
	if len(r.Warnings) == 0 {
		return
	}
	ws := append(r.Warnings[:0:0], r.Warnings...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Count > ws[j].Count })
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s %d", w.Kind, w.Count))
	}
	fmt.Fprintf(io.Err, "data quality: %s\n", strings.Join(parts, ", "))
	for _, w := range ws {
		fmt.Fprintf(io.Err, "  %s: e.g. %s\n", w.Kind, w.Example)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
