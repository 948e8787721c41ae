package cmd

import (
	"bytes"
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/report"
)

// CoverageOptions are the inputs of `trace-forensics coverage`.
type CoverageOptions struct {
	IO          IO
	Source      sourceOptions
	Filter      filterOptions
	Format      string
	Output      string
	Percentiles string
	StagesFile  string
	MaxSkew     time.Duration
	Quiet       bool
	Now         func() time.Time
}

var coverageFormats = map[string]report.Renderer{
	"table":    report.CoverageTable,
	"json":     report.CoverageJSON,
	"markdown": report.CoverageMarkdown,
}

// NewCmdCoverage builds the command; runF replaces the run function in tests.
func NewCmdCoverage(io IO, runF func(*CoverageOptions) error) *cobra.Command {
	opts := &CoverageOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "coverage [flags] SOURCE...",
		Short: "Find missing instrumentation: critical-path time no child span explains",
		Long: `Reports where the requests' critical path runs through time that no child span
explains: a parent span's own time on the path, between or around its
children. Per parent operation it gives that untraced time's share of the
end-to-end latency (overall and at each percentile) and the two children it
mostly lies between ("12% of the latency between session load and LLM
invocation inside chat-gateway POST /v1/chat"), per stage the same, and the
stages the rules expect that never appear in the traces. The largest rows are
the span boundaries to add first.`,
		Example: `  trace-forensics coverage traces.json
  trace-forensics coverage --format json --stages stages.yaml exports/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Source.args = args
			if runF != nil {
				return runF(opts)
			}
			return runCoverage(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.Format, "format", "f", "table", "output format: table, json, markdown")
	fl.StringVarP(&opts.Output, "output", "o", "", "write the report to this file instead of stdout")
	fl.StringVar(&opts.Percentiles, "percentiles", "50,95,99", "percentiles to report, comma-separated")
	fl.StringVar(&opts.StagesFile, "stages", "", "YAML file of stage rules, before the built-in ones (or instead: mode: replace)")
	fl.DurationVar(&opts.MaxSkew, "max-clock-skew", analyze.DefaultMaxClockSkew, "largest clock-skew shift of a child span into its parent on another host; 0 disables")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the input and data-quality summary on stderr")
	opts.Filter.bind(c)
	opts.Source.bind(c)
	return c
}

func runCoverage(ctx context.Context, opts *CoverageOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	render, ok := coverageFormats[opts.Format]
	if !ok {
		return usagef("--format: %q is not one of table, json, markdown", opts.Format)
	}
	pct, err := parsePercentiles(opts.Percentiles)
	if err != nil {
		return usagef("--percentiles: %v", err)
	}
	aopt, err := analysisOptions(opts.StagesFile, "", opts.MaxSkew, &opts.Source)
	if err != nil {
		return err
	}
	if aopt.Filter, err = opts.Filter.filter(opts.Now()); err != nil {
		return err
	}
	ds, err := opts.Source.load(ctx, opts.IO)
	if err != nil {
		return err
	}
	aopt.Percentiles, aopt.Release = pct, true
	res, err := analyze.Analyze(ds, aopt)
	if err != nil {
		return err
	}
	redactOutput(res, opts.Source.redactor())
	if !opts.Quiet {
		writeSummary(opts.IO, res)
	}
	return writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return render(w, res) })
}
