package cmd

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/redact"
	"github.com/trace-forensics/trace-forensics/report"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// CompareOptions are the inputs of `trace-forensics compare`.
type CompareOptions struct {
	IO          IO
	Args        []string
	Analysis    analysisFlags
	Format      string
	Output      string
	Percentiles string
	Alpha       float64
	Split       string // KEY=A,B
	Quiet       bool
	Now         func() time.Time
	changed     func(string) bool
}

// NewCmdCompare builds the command; runF replaces the run function in tests.
func NewCmdCompare(io IO, runF func(*CompareOptions) error) *cobra.Command {
	opts := &CompareOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "compare [flags] BASELINE CANDIDATE | --split KEY=A,B SOURCE",
		Short: "Compare latency old → new per request, stage and operation, with a significance test",
		Long: `Compares a candidate with a baseline, each a snapshot (see 'snapshot') or any
trace source: per request, stage and operation, p50/p95/p99 old → new with the
change in percent, and whether the change is statistically significant.

The test is benchstat's: a two-sided Mann–Whitney U test on the values behind
the histograms (requests' and stages' times per request, operations' durations
per span), computed exactly from the HDR buckets; a change is significant when
p < --alpha, and shown as ~ when it is not. A warning says when a side has too
few requests to detect a change, or too few for a tail percentile to rest on
more than a handful of them. The p-value is the whole distribution's, the same
for each of its percentiles.

--split KEY=A,B compares two groups inside one input: the requests whose KEY
attribute is A against those where it is B (a prompt A/B test, two models, two
releases). Only the values of KEY are shown.`,
		Example: `  trace-forensics compare base.json candidate/
  trace-forensics compare --format markdown base.json new.json > comparison.md
  trace-forensics compare --split prompt.version=A,B exports/
  trace-forensics compare --alpha 0.01 --percentiles 50,90,99.9 monday.json tuesday.json`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Args = args
			opts.changed = c.Flags().Changed
			if runF != nil {
				return runF(opts)
			}
			return runCompare(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.Format, "format", "f", "table", "output format: "+strings.Join(report.CompareFormatNames, ", "))
	fl.StringVarP(&opts.Output, "output", "o", "", "write the comparison to this file instead of stdout")
	fl.StringVar(&opts.Percentiles, "percentiles", "50,95,99", "percentiles to compare, comma-separated")
	fl.Float64Var(&opts.Alpha, "alpha", compare.DefaultAlpha, "significance level of the Mann–Whitney U test")
	fl.StringVar(&opts.Split, "split", "", "compare two values of an attribute inside one SOURCE: KEY=A,B (A is the baseline)")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the inputs' summaries on stderr")
	opts.Analysis.bind(c)
	bindRedactKeys(c, &opts.Analysis.RedactKeys)
	return c
}

func checkAlpha(a float64) error {
	if !(a > 0 && a < 1) {
		return usagef("--alpha: %v is not between 0 and 1", a)
	}
	return nil
}

func runCompare(ctx context.Context, opts *CompareOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	render, ok := report.CompareFormats[opts.Format]
	if !ok {
		return usagef("--format: %q is not one of %s", opts.Format, strings.Join(report.CompareFormatNames, ", "))
	}
	if err := checkAlpha(opts.Alpha); err != nil {
		return err
	}
	pct, err := parsePercentiles(opts.Percentiles)
	if err != nil {
		return usagef("--percentiles: %v", err)
	}
	var base, cand *snapshot.Breakdown
	var copt compare.Options
	var extra []string
	if opts.Split != "" {
		if len(opts.Args) != 1 {
			return usagef("--split compares two groups inside one SOURCE: give exactly one, not %d", len(opts.Args))
		}
		key, a, b, err := parseSplit(opts.Split)
		if err != nil {
			return err
		}
		red := redact.New(redact.Options{Keys: opts.Analysis.RedactKeys})
		s, err := loadSide(ctx, opts.IO, "source", opts.Args[0], &opts.Analysis, key, opts.Now(), opts.Quiet, red)
		if err != nil {
			return err
		}
		if red.Listed(key) {
			// The groups carry pseudonyms now: so do the values asked for.
			a, b = red.Value(key, a), red.Value(key, b)
		}
		base, cand, err = splitGroups(s, key, a, b)
		if err != nil {
			return err
		}
		copt.BaseLabel, copt.NewLabel = key+"="+a, key+"="+b
		if red.Listed(key) {
			copt.BaseLabel, copt.NewLabel = a, b // the pseudonyms name the key
		}
	} else {
		if len(opts.Args) != 2 {
			return usagef("compare takes BASELINE and CANDIDATE (or --split KEY=A,B SOURCE), not %d arguments", len(opts.Args))
		}
		sb, sn, notes, err := loadPair(ctx, opts.IO, opts.Args[0], opts.Args[1], &opts.Analysis, opts.changed, opts.Now(), opts.Quiet)
		if err != nil {
			return err
		}
		base, cand, extra = sb.Breakdown(), sn.Breakdown(), notes
		copt.BaseLabel, copt.NewLabel = opts.Args[0], opts.Args[1]
	}
	copt.Alpha, copt.Percentiles = opts.Alpha, pct
	c := compare.Compare(base, cand, copt)
	c.Warnings = append(c.Warnings, extra...)
	return writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return render(w, c) })
}

// loadPair reads a baseline and a candidate and notes what makes them
// compare unlike with like.
func loadPair(ctx context.Context, io IO, basePath, newPath string, a *analysisFlags, changed func(string) bool, now time.Time, quiet bool) (*snapshot.Snapshot, *snapshot.Snapshot, []string, error) {
	for _, p := range []string{basePath, newPath} {
		if snapshot.IsFile(p) && changed != nil {
			for _, f := range []string{"stages", "max-clock-skew", "exemplars", "service", "operation", "root-service", "root-operation", "since", "until", "start", "end", "min-duration"} {
				if changed(f) {
					fmt.Fprintf(io.Err, "warning: --%s applies to trace sources, not to the snapshot %s\n", f, p)
				}
			}
		}
	}
	if basePath == "-" && newPath == "-" {
		return nil, nil, nil, usagef("only one of BASELINE and CANDIDATE can be stdin")
	}
	base, err := loadSide(ctx, io, "baseline "+basePath, basePath, a, "", now, quiet, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	cand, err := loadSide(ctx, io, "candidate "+newPath, newPath, a, "", now, quiet, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	var notes []string
	if !slices.Equal(base.StageRules, cand.StageRules) {
		notes = append(notes, "the baseline and the candidate were analysed with different stage rules: stages may not compare like with like")
	}
	return base, cand, notes, nil
}

// parseSplit reads KEY=A,B.
func parseSplit(s string) (key, a, b string, err error) {
	key, vals, ok := strings.Cut(s, "=")
	parts := strings.Split(vals, ",")
	if !ok || strings.TrimSpace(key) == "" || len(parts) != 2 || parts[0] == "" || parts[1] == "" || parts[0] == parts[1] {
		return "", "", "", usagef("--split: %q is not KEY=A,B with two different values", s)
	}
	return strings.TrimSpace(key), parts[0], parts[1], nil
}

// splitGroups picks two groups of a snapshot grouped by key.
func splitGroups(s *snapshot.Snapshot, key, a, b string) (*snapshot.Breakdown, *snapshot.Breakdown, error) {
	if s.GroupBy != key {
		by := "not grouped"
		if s.GroupBy != "" {
			by = "grouped by " + s.GroupBy
		}
		return nil, nil, fmt.Errorf("--split %s: the snapshot is %s (make it with --group-by %s)", key, by, key)
	}
	var out [2]*snapshot.Breakdown
	for i, v := range []string{a, b} {
		g := s.Group(v)
		if g == nil {
			var have []string
			for _, g := range s.Groups {
				if !g.Missing {
					have = append(have, strconv.Quote(g.Value))
				}
			}
			return nil, nil, fmt.Errorf("--split: no request has %s=%s (values: %s)", key, v, strings.Join(have, ", "))
		}
		out[i] = g.Breakdown()
	}
	return out[0], out[1], nil
}
