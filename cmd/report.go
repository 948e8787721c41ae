package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/gate"
	"github.com/trace-forensics/trace-forensics/redact"
	"github.com/trace-forensics/trace-forensics/report"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// ReportOptions are the inputs of `trace-forensics report`.
type ReportOptions struct {
	IO          IO
	Source      sourceOptions
	Filter      filterOptions
	Format      string
	Output      string
	Title       string
	SLO         time.Duration
	TraceURL    string
	Assets      string
	GroupBy     string
	StagesFile  string
	Percentiles string
	Exemplars   int
	MaxSkew     time.Duration
	Baseline    string
	Gate        string
	Quiet       bool
	Now         func() time.Time
}

// Report formats.
const (
	reportMarkdown = "markdown"
	reportHTML     = "html"
)

// NewCmdReport builds the command; runF replaces the run function in tests.
func NewCmdReport(io IO, runF func(*ReportOptions) error) *cobra.Command {
	opts := &ReportOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "report [flags] SOURCE...",
		Short: "Write a postmortem report: Markdown with SVG charts, or one self-contained HTML page",
		Long: `Writes a latency report for people: a summary to read in thirty seconds
(end-to-end p95/p99 against --slo, the error rate, the stages that take the
time, said in words), then the detail: time window, sources, end-to-end
percentiles, the stage breakdown, the tail anatomy (which stage grows in the
slowest requests), groups (--group-by), missing instrumentation, the slowest
traces with links (--trace-url) and a waterfall of the slowest one with its
critical path, and the data-quality warnings.

A SOURCE can also be a snapshot (several are merged): the report then has
what a snapshot keeps, without the tail anatomy, missing instrumentation and
waterfall, which need the traces. --baseline BASE (a snapshot or traces) adds
a comparison with it, and --gate RULES (a gate rules file, or "default")
the gate's verdict, rendered as 'gate' judges it; the report is written
either way and the exit code is 0 (use 'gate' to fail a CI job).

--format html writes one file with its charts as inline SVG, styles and the
table-sorting script inside: it fetches nothing, opens from disk and prints.
--format markdown writes the charts as SVG files into --assets DIR (by default
FILE-assets beside -o FILE) and links them, to paste into a postmortem.

No attribute value appears in the report except those of the --group-by key
and the keys the stage rules match on, and those, span and service names pass
a redactor: emails, phone numbers, card numbers and IP addresses become
[email], [phone], [card], [ip]. --redact-key KEY hides a key's values too: a
group of it shows as "KEY #n", and its values are cut out of names.`,
		Example: `  trace-forensics report -o postmortem.html exports/
  trace-forensics report --format markdown -o postmortem.md --slo 2s exports/
  trace-forensics report -o chat.html --slo 2s --group-by prompt.version \
      --trace-url 'https://jaeger.example/trace/{id}' testdata/sample/chat.otlp.jsonl
  trace-forensics report -o tenant.md --group-by tenant.id --redact-key tenant.id exports/
  trace-forensics report -o today.html --baseline base.json --gate default today.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Source.args = args
			if runF != nil {
				return runF(opts)
			}
			return runReport(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.Format, "format", "f", "", "markdown or html (default: from the -o file's extension, else markdown)")
	fl.StringVarP(&opts.Output, "output", "o", "", "write the report to this file instead of stdout")
	fl.StringVar(&opts.Title, "title", "Latency report", "the report's title")
	fl.DurationVar(&opts.SLO, "slo", 0, "end-to-end latency objective to compare p95 and p99 with (e.g. 2s)")
	fl.StringVar(&opts.TraceURL, "trace-url", "", "link trace IDs: a URL with {id} in it, e.g. 'https://jaeger.example/trace/{id}'")
	fl.StringVar(&opts.Assets, "assets", "", "Markdown: write the charts as SVG files into this directory (default: FILE-assets beside -o FILE)")
	fl.StringVar(&opts.GroupBy, "group-by", "", "break down per value of this span or resource attribute (e.g. prompt.version)")
	fl.StringVar(&opts.StagesFile, "stages", "", "YAML file of stage rules, before the built-in ones (or instead: mode: replace)")
	fl.StringVar(&opts.Percentiles, "percentiles", "50,95,99", "percentiles to report, comma-separated")
	fl.IntVar(&opts.Exemplars, "exemplars", 5, "trace IDs of the slowest requests to list")
	fl.StringVar(&opts.Baseline, "baseline", "", "compare with this baseline: a snapshot or traces")
	fl.StringVar(&opts.Gate, "gate", "", "judge with these gate rules (a rules file, or \"default\") and show the verdict")
	fl.DurationVar(&opts.MaxSkew, "max-clock-skew", analyze.DefaultMaxClockSkew, "largest clock-skew shift of a child span into its parent on another host; 0 disables")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the input and data-quality summary on stderr")
	opts.Filter.bind(c)
	opts.Source.bind(c)
	return c
}

// reportFormat is --format, or the one -o's extension names.
func reportFormat(format, output string) (string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(output)) {
		case ".html", ".htm":
			return reportHTML, nil
		}
		return reportMarkdown, nil
	}
	switch format {
	case reportMarkdown, "md":
		return reportMarkdown, nil
	case reportHTML:
		return reportHTML, nil
	}
	return "", usagef("--format: %q is not one of markdown, html", format)
}

func checkTraceURL(u string) error {
	if u == "" {
		return nil
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return usagef("--trace-url: %q is not an http or https URL", u)
	}
	if !strings.Contains(u, "{id}") {
		return usagef("--trace-url: %q has no {id} to put the trace ID in", u)
	}
	return nil
}

func runReport(ctx context.Context, opts *ReportOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	format, err := reportFormat(opts.Format, opts.Output)
	if err != nil {
		return err
	}
	if err := checkTraceURL(opts.TraceURL); err != nil {
		return err
	}
	if opts.SLO < 0 {
		return usagef("--slo: must not be negative")
	}
	if opts.Assets != "" && format != reportMarkdown {
		return usagef("--assets: only --format markdown writes chart files; HTML has them inside")
	}
	if opts.Exemplars < 0 {
		return usagef("--exemplars: must not be negative")
	}
	pct, err := parsePercentiles(opts.Percentiles)
	if err != nil {
		return usagef("--percentiles: %v", err)
	}
	filter, err := opts.Filter.filter(opts.Now())
	if err != nil {
		return err
	}
	rules, err := reportGateRules(opts.Gate, opts.Baseline != "")
	if err != nil {
		return err
	}
	aopt, err := analysisOptions(opts.StagesFile, opts.GroupBy, opts.MaxSkew, &opts.Source)
	if err != nil {
		return err
	}
	aopt.Percentiles, aopt.Exemplars, aopt.Filter = pct, max(opts.Exemplars, 1), filter
	red := opts.Source.redactor()

	in, err := reportInput(ctx, opts, aopt, red)
	if err != nil {
		return err
	}
	po := report.PostmortemOptions{Title: red.String(opts.Title), SLO: opts.SLO, TraceURL: opts.TraceURL, Notes: in.notes}
	if in.slowest != nil && opts.Exemplars > 0 {
		po.Waterfall = report.WaterfallOf(in.slowest, report.StageColors(in.res))
	}
	if opts.Baseline != "" || rules != nil {
		if po.Comparison, err = reportComparison(ctx, opts, in, rules, analyze.Options{Stages: aopt.Stages, Filter: filter, Percentiles: pct}, red); err != nil {
			return err
		}
	}
	if format == reportHTML {
		return writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return report.PostmortemHTML(w, in.res, po) })
	}
	if dir, link := assetsDir(opts.Assets, opts.Output); dir != "" {
		po.Assets = link
		po.WriteAsset = func(name string, svg []byte) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--assets: %w", err)
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, svg, 0o644); err != nil {
				return fmt.Errorf("writing %s: %w", p, err)
			}
			return nil
		}
	}
	return writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return report.PostmortemMarkdown(w, in.res, po) })
}

// reportGateRules reads --gate: a rules file, "default" or nothing.
func reportGateRules(path string, haveBaseline bool) (*gate.Rules, error) {
	var rules *gate.Rules
	switch path {
	case "":
		return nil, nil
	case "default":
		rules = gate.DefaultRules()
	default:
		var err error
		if rules, err = gate.ReadFile(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--gate: %w", err)
			}
			return nil, usagef("--gate: %v", err)
		}
	}
	if !haveBaseline && rules.NeedsBaseline() {
		return nil, usagef("--gate: its rules compare with a baseline: give --baseline")
	}
	return rules, nil
}

// reportIn is what a report is made from, redacted.
type reportIn struct {
	res     *analyze.Result
	slowest *analyze.Explanation // the slowest trace, explained; nil from snapshots
	snap    *snapshot.Snapshot   // the sources when they are snapshots (merged)
	notes   []string
}

// reportInput analyses the sources, or reads them when they are
// snapshots, and redacts what it got.
func reportInput(ctx context.Context, opts *ReportOptions, aopt analyze.Options, red *redact.Redactor) (*reportIn, error) {
	in := &reportIn{}
	snaps, err := reportSnapshots(opts.Source.args)
	if err != nil {
		return nil, err
	}
	if snaps != nil {
		if in.snap, err = snapshot.Merge(snaps...); err != nil {
			return nil, err
		}
		for _, n := range in.snap.Notes {
			fmt.Fprintf(opts.IO.Err, "warning: %s\n", n)
		}
		in.res = report.ResultFromSnapshot(in.snap, aopt.Percentiles)
		in.notes = append(in.notes, "Made from "+plural(len(snaps), "a snapshot", fmt.Sprintf("%d merged snapshots", len(snaps)))+
			": the tail anatomy, the missing-instrumentation figures and the slowest trace's waterfall need the traces and are not shown.")
		redact.Walk(in.snap, red)
	} else {
		ds, err := opts.Source.load(ctx, opts.IO)
		if err != nil {
			return nil, err
		}
		redact.LearnDataset(ds, red)
		// The dataset stays whole (no Release) for the slowest trace's waterfall.
		if in.res, err = analyze.Analyze(ds, aopt); err != nil {
			return nil, err
		}
		if len(in.res.Requests.Exemplars) > 0 {
			if in.slowest, err = analyze.Explain(ds, in.res.Requests.Exemplars[0], aopt); err != nil {
				return nil, fmt.Errorf("explaining the slowest trace: %w", err)
			}
		}
	}
	if opts.Exemplars == 0 {
		clearExemplars(in.res)
	}
	redact.Result(in.res, red)
	redact.Walk(in.slowest, red)
	if !opts.Quiet {
		writeSummary(opts.IO, in.res)
	}
	return in, nil
}

// reportComparison compares the report's figures with --baseline, or
// judges them with --gate, as `compare` and `gate` do.
func reportComparison(ctx context.Context, opts *ReportOptions, in *reportIn, rules *gate.Rules, aopt analyze.Options, red *redact.Redactor) (*report.Comparison, error) {
	cand := in.snap
	if cand == nil {
		var err error
		if cand, err = snapshot.FromResult(in.res, snapshot.Meta{Rules: aopt.Stages, Filter: aopt.Filter, Exemplars: opts.Exemplars}); err != nil {
			return nil, err
		}
	}
	newLabel := red.String(strings.Join(opts.Source.args, " "))
	if newLabel == "" {
		newLabel = "this report"
	}
	var base *snapshot.Breakdown
	baseLabel := red.String(opts.Baseline)
	if opts.Baseline != "" {
		af := &analysisFlags{StagesFile: opts.StagesFile, MaxSkew: opts.MaxSkew, Exemplars: opts.Exemplars, Filter: opts.Filter}
		s, err := loadSide(ctx, opts.IO, "baseline "+opts.Baseline, opts.Baseline, af, "", opts.Now(), opts.Quiet, nil)
		if err != nil {
			return nil, err
		}
		redact.Walk(s, red)
		base = s.Breakdown()
	}
	if rules == nil {
		return report.ComparisonOf(compare.Compare(base, cand.Breakdown(), compare.Options{Percentiles: aopt.Percentiles, BaseLabel: baseLabel, NewLabel: newLabel})), nil
	}
	v, err := gate.Evaluate(base, cand.Breakdown(), rules, gate.Options{Percentiles: aopt.Percentiles, BaseLabel: baseLabel, NewLabel: newLabel})
	if err != nil {
		return nil, fmt.Errorf("--gate: %w", err)
	}
	return report.GateOf(v), nil
}

// reportSnapshots reads the SOURCE arguments when they are all snapshots;
// it returns nil when none is, and a usage error for a mix.
func reportSnapshots(args []string) ([]*snapshot.Snapshot, error) {
	var snaps []*snapshot.Snapshot
	for _, a := range args {
		if !snapshot.IsFile(a) {
			continue
		}
		s, err := snapshot.ReadFile(a)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", a, err)
		}
		snaps = append(snaps, s)
	}
	if len(snaps) > 0 && len(snaps) != len(args) {
		return nil, usagef("give snapshots or traces, not both (%d of %d sources are snapshots)", len(snaps), len(args))
	}
	return snaps, nil
}

// assetsDir returns where the charts of a Markdown report go and the path
// the report links them by (relative to the report): --assets, or
// FILE-assets beside -o FILE; none for a report on stdout without --assets.
func assetsDir(assets, output string) (dir, link string) {
	toStdout := output == "" || output == "-"
	if assets == "" {
		if toStdout {
			return "", ""
		}
		base := strings.TrimSuffix(filepath.Base(output), filepath.Ext(output))
		return filepath.Join(filepath.Dir(output), base+"-assets"), base + "-assets"
	}
	link = assets
	if !toStdout {
		if abs, err := filepath.Abs(assets); err == nil {
			if outDir, err := filepath.Abs(filepath.Dir(output)); err == nil {
				if rel, err := filepath.Rel(outDir, abs); err == nil {
					link = rel
				}
			}
		}
	}
	return assets, filepath.ToSlash(link)
}
