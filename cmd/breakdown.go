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
	By          string        // stage or operation: the view of table and markdown
	StagesFile  string        // --stages: rules of one's own
	GroupBy     string        // --group-by: an attribute key
	MaxSkew     time.Duration // --max-clock-skew; 0 disables the adjustment
	Snapshot    string        // --snapshot: also write a snapshot to this file
}

// NewCmdBreakdown builds the command; runF replaces the run function in tests.
func NewCmdBreakdown(io IO, runF func(*BreakdownOptions) error) *cobra.Command {
	opts := &BreakdownOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "breakdown [flags] SOURCE...",
		Short: "Break request latency down by stage and operation: where the latency went",
		Long: `Reads traces and reports where the requests' latency went. The default view is
by stage (request entry, session load, intent classification, service fan-out,
retrieval and reranking, LLM invocation, guardrails, persistence, analytics
emission, and service/operation for spans no rule maps): each stage's time on
the critical path of each request (what the request waited on), its share of
the end-to-end latency overall and at each percentile, self and inclusive time,
and the same breakdown per latency band (p0-p50, p50-p95, p95-p99, p99+) to show
what makes slow requests slow. --by operation gives the per-operation view:
count, inclusive duration, self time and critical-path time percentiles, error
rates and the IDs of the slowest traces. JSON and CSV carry both.

--group-by KEY gives the breakdown per value of one span or resource attribute
(prompt.version, gen_ai.request.model, service.version) side by side. Stage
rules are listed by 'trace-forensics stages'; --stages FILE adds your own.
Child spans on another host that do not fit inside their parent are moved
into it (Jaeger's clock-skew adjustment) by at most --max-clock-skew.

A SOURCE is a file, a directory (read recursively), a glob, or - for stdin.
Formats are recognised from the content, not the name: OTLP JSON documents,
the OpenTelemetry Collector file exporter's JSON Lines (spans of a trace spread
over many lines and files are joined back), Tempo's JSON, and gzip or zstd
compressed versions of them.

Attribute values (which can hold emails, prompts, user IDs) never appear in
any output: only service names, span names, trace IDs and the values of the
--group-by key do.`,
		Example: `  trace-forensics breakdown traces.json
  trace-forensics breakdown --format json exports/ > breakdown.json
  cat spans.jsonl.gz | trace-forensics breakdown -
  trace-forensics breakdown --root-operation 'POST /v1/chat' --since 2h --percentiles 50,90,99.9 exports/
  trace-forensics breakdown --format markdown -o breakdown.md 'exports/*.jsonl.zst'
  trace-forensics breakdown --by operation traces.json
  trace-forensics breakdown --group-by prompt.version --stages stages.yaml exports/`,
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
	fl.StringVar(&opts.By, "by", report.ByStage, "view of table and markdown: "+strings.Join(report.ByNames, ", "))
	fl.StringVar(&opts.StagesFile, "stages", "", "YAML file of stage rules, before the built-in ones (or instead: mode: replace); see 'trace-forensics stages'")
	fl.StringVar(&opts.GroupBy, "group-by", "", "break down per value of this span or resource attribute (e.g. prompt.version); only its values are shown")
	fl.DurationVar(&opts.MaxSkew, "max-clock-skew", analyze.DefaultMaxClockSkew, "largest clock-skew shift of a child span into its parent on another host; 0 disables")
	fl.StringVar(&opts.Snapshot, "snapshot", "", "also write a snapshot of the breakdown to this file, for compare and gate (see 'trace-forensics snapshot')")
	opts.Filter.bind(c)
	opts.Source.bind(c)
	return c
}

func runBreakdown(ctx context.Context, opts *BreakdownOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.By != report.ByStage && opts.By != report.ByOperation {
		return usagef("--by: %q is not one of %s", opts.By, strings.Join(report.ByNames, ", "))
	}
	render, ok := report.Renderers(opts.Format, opts.By)
	if !ok {
		return usagef("--format: %q is not one of %s", opts.Format, strings.Join(report.FormatNames, ", "))
	}
	aopt, err := analysisOptions(opts.StagesFile, opts.GroupBy, opts.MaxSkew, &opts.Source)
	if err != nil {
		return err
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
	aopt.Percentiles, aopt.Exemplars, aopt.Filter, aopt.Release = pct, max(opts.Exemplars, 1), filter, true
	res, err := analyze.Analyze(ds, aopt)
	if err != nil {
		return err
	}
	if opts.Exemplars == 0 {
		clearExemplars(res)
	}
	redactOutput(res, opts.Source.redactor())
	if opts.Snapshot != "" {
		if err := writeSnapshotFile(opts.IO, opts.Snapshot, res, aopt, opts.Exemplars); err != nil {
			return err
		}
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
	for i := range r.Stages {
		r.Stages[i].Exemplars = nil
	}
	for g := range r.Groups {
		r.Groups[g].Requests.Exemplars = nil
		for i := range r.Groups[g].Operations {
			r.Groups[g].Operations[i].Exemplars = nil
		}
		for i := range r.Groups[g].Stages {
			r.Groups[g].Stages[i].Exemplars = nil
		}
	}
}

// analysisOptions reads the stage rules and sets what the reader keeps:
// the attribute keys of the rules, the grouping key and the host keys, and
// no other.
func analysisOptions(stagesFile, groupBy string, maxSkew time.Duration, src *sourceOptions) (analyze.Options, error) {
	rules, err := stageRules(stagesFile)
	if err != nil {
		return analyze.Options{}, err
	}
	if maxSkew < 0 {
		return analyze.Options{}, usagef("--max-clock-skew: must not be negative")
	}
	skew := maxSkew
	if skew == 0 {
		skew = -1 // off
	}
	src.keep = keepKeys(rules, groupBy)
	return analyze.Options{Stages: rules, GroupBy: groupBy, MaxClockSkew: skew}, nil
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
