package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/gate"
	"github.com/trace-forensics/trace-forensics/report"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// GateOptions are the inputs of `trace-forensics gate`.
type GateOptions struct {
	IO          IO
	Args        []string
	Analysis    analysisFlags
	Baseline    string
	RulesFile   string
	Init        string
	Format      string
	Output      string
	JUnit       string
	Percentiles string
	Alpha       float64
	Quiet       bool
	Now         func() time.Time
	changed     func(string) bool
}

// NewCmdGate builds the command; runF replaces the run function in tests.
func NewCmdGate(io IO, runF func(*GateOptions) error) *cobra.Command {
	opts := &GateOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "gate --baseline BASELINE [--rules FILE] CANDIDATE | --init BASELINE",
		Short: "Fail a CI job on latency regressions, not on noise (exit code 3)",
		Long: `Compares CANDIDATE with BASELINE (each a snapshot or any trace source), prints
the full comparison, then judges it against latency rules and exits 0 when
they hold, 3 when one fails (1 on errors, 2 on usage errors).

Rules (one per line of a YAML list in --rules FILE):

` + indent(gate.Grammar, "  ") + `

  p99(stage="LLM invocation") < 2.5s              a budget on the candidate
  p95(request) regression < 10%                   relative to the baseline
  share_of_request(p99, stage="retrieval*") < 0.3
  min_requests >= 200

A regression rule fails only when the change is over its limit and
statistically significant: a one-sided Mann–Whitney U test (is the candidate
slower?) at --alpha, Holm-corrected over all the distributions the regression
rules test, so that the gate as a whole fails on noise at most 5% of the time.
Without --rules these defaults apply, and are printed:

` + indent(strings.Join(gate.DefaultRuleText, "\n"), "  ") + `

'gate --init BASELINE' writes a starting rules file: p95 and p99 budgets per
stage with headroom, and the default regression rules.

In CI: --junit FILE writes one JUnit testcase per rule; when GITHUB_ACTIONS is
true, failed rules become ::error annotations and warnings ::warning ones; when
GITHUB_STEP_SUMMARY is set, a Markdown summary is appended to it.`,
		Example: `  trace-forensics gate --baseline base.json candidate/
  trace-forensics gate --baseline base.json --rules gate.yaml --junit gate.xml candidate.json
  trace-forensics gate --init base.json -o gate.yaml`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Args = args
			opts.changed = c.Flags().Changed
			if runF != nil {
				return runF(opts)
			}
			return runGate(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.Baseline, "baseline", "", "the baseline: a snapshot or a trace source")
	fl.StringVar(&opts.RulesFile, "rules", "", "YAML file of rules (default: the default rules, printed)")
	fl.StringVar(&opts.Init, "init", "", "write a starting rules file from this baseline (snapshot or traces) and exit")
	fl.StringVarP(&opts.Format, "format", "f", "table", "output format: "+strings.Join(report.GateFormatNames, ", "))
	fl.StringVarP(&opts.Output, "output", "o", "", "write the report (with --init: the rules) to this file instead of stdout")
	fl.StringVar(&opts.JUnit, "junit", "", "also write the verdict as JUnit XML to this file, one testcase per rule")
	fl.StringVar(&opts.Percentiles, "percentiles", "50,95,99", "percentiles to show in the comparison, besides those the rules use")
	fl.Float64Var(&opts.Alpha, "alpha", compare.DefaultAlpha, "significance level of regression rules (overrides the rules file's alpha)")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the inputs' summaries on stderr")
	opts.Analysis.bind(c)
	bindRedactKeys(c, &opts.Analysis.RedactKeys)
	return c
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

func runGate(ctx context.Context, opts *GateOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Init != "" {
		return runGateInit(ctx, opts)
	}
	render, ok := report.GateFormats[opts.Format]
	if !ok {
		return usagef("--format: %q is not one of %s", opts.Format, strings.Join(report.GateFormatNames, ", "))
	}
	if err := checkAlpha(opts.Alpha); err != nil {
		return err
	}
	pct, err := parsePercentiles(opts.Percentiles)
	if err != nil {
		return usagef("--percentiles: %v", err)
	}
	if len(opts.Args) != 1 {
		return usagef("gate takes one CANDIDATE, not %d arguments", len(opts.Args))
	}
	rules := gate.DefaultRules()
	if opts.RulesFile != "" {
		if rules, err = gate.ReadFile(opts.RulesFile); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("--rules: %w", err)
			}
			return usagef("--rules: %v", err)
		}
	}
	if opts.Baseline == "" && rules.NeedsBaseline() {
		what := "the default rules compare with a baseline"
		if !rules.Default {
			what = "regression rules compare with a baseline"
		}
		return usagef("--baseline is missing: %s", what)
	}
	alpha := opts.Alpha
	if !opts.changed("alpha") {
		alpha = 0 // the rules file's, else the default
	}

	var base, cand *snapshot.Breakdown
	var notes []string
	if opts.Baseline != "" {
		sb, sn, n, err := loadPair(ctx, opts.IO, opts.Baseline, opts.Args[0], &opts.Analysis, opts.changed, opts.Now(), opts.Quiet)
		if err != nil {
			return err
		}
		base, cand, notes = sb.Breakdown(), sn.Breakdown(), n
	} else {
		sn, err := loadSide(ctx, opts.IO, "candidate "+opts.Args[0], opts.Args[0], &opts.Analysis, "", opts.Now(), opts.Quiet, nil)
		if err != nil {
			return err
		}
		cand = sn.Breakdown()
	}
	v, err := gate.Evaluate(base, cand, rules, gate.Options{Alpha: alpha, Percentiles: pct, BaseLabel: opts.Baseline, NewLabel: opts.Args[0]})
	if err != nil {
		return err
	}
	if v.Comparison != nil {
		v.Comparison.Warnings = append(v.Comparison.Warnings, notes...)
		v.Warnings = v.Comparison.Warnings
	}

	// The full report first, then what CI reads, then the verdict's exit.
	if err := writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return render(w, v) }); err != nil {
		return err
	}
	if opts.JUnit != "" {
		if err := writeReport(opts.IO, opts.JUnit, func(w *bytes.Buffer) error { return report.JUnit(w, v) }); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if opts.IO.Getenv("GITHUB_ACTIONS") == "true" {
		// Workflow commands are read from stdout; keep a JSON report there
		// parseable by sending them to stderr then (the runner reads both).
		w := opts.IO.Out
		if opts.Format == "json" && (opts.Output == "" || opts.Output == "-") {
			w = opts.IO.Err
		}
		if err := report.GitHubAnnotations(w, v); err != nil {
			return err
		}
	}
	if path := opts.IO.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendFile(path, func(w *bytes.Buffer) error { return report.GateMarkdown(w, v) }); err != nil {
			return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
		}
	}
	if !v.Passed {
		return exitError{code: ExitGate, msg: fmt.Sprintf("latency gate failed: %d of %d rules", v.Failed, len(v.Outcomes))}
	}
	return nil
}

// appendFile appends what render writes to a file, creating it.
func appendFile(path string, render func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runGateInit(ctx context.Context, opts *GateOptions) error {
	if len(opts.Args) != 0 || opts.Baseline != "" || opts.RulesFile != "" {
		return usagef("--init BASELINE writes rules and takes no CANDIDATE, --baseline or --rules")
	}
	alpha := 0.0
	if opts.changed("alpha") {
		if err := checkAlpha(opts.Alpha); err != nil {
			return err
		}
		alpha = opts.Alpha
	}
	s, err := loadSide(ctx, opts.IO, "baseline "+opts.Init, opts.Init, &opts.Analysis, "", opts.Now(), opts.Quiet, nil)
	if err != nil {
		return err
	}
	if s.Requests.Latency.Count == 0 {
		return fmt.Errorf("--init: %s has no requests to set budgets from", opts.Init)
	}
	text := gate.Init(s, opts.Init, alpha)
	if err := writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { _, err := w.Write(text); return err }); err != nil {
		return err
	}
	if !opts.Quiet && opts.Output != "" && opts.Output != "-" {
		fmt.Fprintf(opts.IO.Err, "wrote %s: starting rules from %s (%d requests); edit them, then: trace-forensics gate --baseline %s --rules %s CANDIDATE\n",
			opts.Output, opts.Init, s.Requests.Latency.Count, opts.Init, opts.Output)
	}
	return nil
}
