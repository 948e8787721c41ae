package cmd

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/redact"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// SnapshotOptions are the inputs of `trace-forensics snapshot`.
type SnapshotOptions struct {
	IO       IO
	Source   sourceOptions
	Analysis analysisFlags
	Output   string
	GroupBy  string
	Quiet    bool
	Now      func() time.Time
}

// analysisFlags are how commands that take traces or snapshots analyse the
// traces: stage rules, clock skew, filters, exemplars.
type analysisFlags struct {
	StagesFile string
	MaxSkew    time.Duration
	Exemplars  int
	Filter     filterOptions
	RedactKeys []string // compare and gate bind it here; snapshot through its source
}

func (a *analysisFlags) bind(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&a.StagesFile, "stages", "", "YAML file of stage rules, before the built-in ones (or instead: mode: replace); see 'trace-forensics stages'")
	fl.DurationVar(&a.MaxSkew, "max-clock-skew", analyze.DefaultMaxClockSkew, "largest clock-skew shift of a child span into its parent on another host; 0 disables")
	fl.IntVar(&a.Exemplars, "exemplars", 5, "trace IDs of the slowest requests to keep per figure")
	a.Filter.bind(c)
}

// analyzeSource reads a trace source and stores its breakdown as a
// snapshot, as `snapshot` writes it.
func analyzeSource(ctx context.Context, io IO, src *sourceOptions, a *analysisFlags, groupBy string, now time.Time, quiet bool) (*snapshot.Snapshot, error) {
	if a.Exemplars < 0 {
		return nil, usagef("--exemplars: must not be negative")
	}
	aopt, err := analysisOptions(a.StagesFile, groupBy, a.MaxSkew, src)
	if err != nil {
		return nil, err
	}
	filter, err := a.Filter.filter(now)
	if err != nil {
		return nil, err
	}
	ds, err := src.load(ctx, io)
	if err != nil {
		return nil, err
	}
	aopt.Exemplars, aopt.Filter, aopt.Release = max(a.Exemplars, 1), filter, true
	res, err := analyze.Analyze(ds, aopt)
	if err != nil {
		return nil, err
	}
	if a.Exemplars == 0 {
		clearExemplars(res)
	}
	redactOutput(res, src.redactor())
	if !quiet {
		writeSummary(io, res)
	}
	return snapshotOf(res, aopt, a.Exemplars)
}

// snapshotOf stores a result with what it was made with.
func snapshotOf(res *analyze.Result, aopt analyze.Options, exemplars int) (*snapshot.Snapshot, error) {
	return snapshot.FromResult(res, snapshot.Meta{Tool: "trace-forensics " + version(), Rules: aopt.Stages, Filter: aopt.Filter, Exemplars: exemplars})
}

// writeSnapshotFile writes the snapshot of a result that a command has
// analysed (breakdown --snapshot FILE) and redacted.
func writeSnapshotFile(io IO, path string, res *analyze.Result, aopt analyze.Options, exemplars int) error {
	s, err := snapshotOf(res, aopt, exemplars)
	if err != nil {
		return err
	}
	if err := writeReport(IO{Out: io.Out}, path, func(w *bytes.Buffer) error { return s.Write(w) }); err != nil {
		return fmt.Errorf("--snapshot: %w", err)
	}
	return nil
}

// loadSide reads one side of a comparison: a snapshot file as it is, any
// other source through the analysis; red (new when nil) redacts it and
// learns the values of the --redact-key keys from the traces.
func loadSide(ctx context.Context, io IO, what, path string, a *analysisFlags, groupBy string, now time.Time, quiet bool, red *redact.Redactor) (*snapshot.Snapshot, error) {
	if red == nil {
		red = redact.New(redact.Options{Keys: a.RedactKeys})
	}
	if snapshot.IsFile(path) {
		s, err := snapshot.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(io.Err, "warning: %s\n", n)
		}
		// A snapshot holds no values to learn from: those of a listed key
		// that it still carries become 'KEY #?'.
		redactOutput(s, red)
		return s, nil
	}
	src := &sourceOptions{args: []string{path}, red: red}
	s, err := analyzeSource(ctx, io, src, a, groupBy, now, quiet)
	if err != nil {
		if _, ok := err.(usageError); ok {
			return nil, err
		}
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return s, nil
}

// NewCmdSnapshot builds the command; runF replaces the run function in tests.
func NewCmdSnapshot(io IO, runF func(*SnapshotOptions) error) *cobra.Command {
	opts := &SnapshotOptions{IO: io, Now: time.Now}
	c := &cobra.Command{
		Use:   "snapshot [flags] SOURCE... -o FILE",
		Short: "Store a breakdown's distributions to compare against later, without the traces",
		Long: `Reads traces like breakdown and writes a snapshot: versioned JSON with, per
request, stage, operation and --group-by group, the HDR histograms themselves
(standard V2 compressed base64), exact counts, sums, minimum and maximum, the
slowest traces, the stage rules used, the filter, the inputs and the time
window. 'compare' and 'gate' take a snapshot wherever they take traces, and
'merge' adds snapshots exactly (sharded CI jobs, per-region pulls).

Attribute values never appear in a snapshot, except the values of the
--group-by key.`,
		Example: `  trace-forensics snapshot exports/ -o base.json
  trace-forensics snapshot --group-by prompt.version --since 2h exports/ -o today.json
  trace-forensics snapshot --jaeger http://jaeger:16686 --service chat-gateway --since 1h -o base.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Source.args = args
			if runF != nil {
				return runF(opts)
			}
			return runSnapshot(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", "write the snapshot to this file instead of stdout")
	fl.StringVar(&opts.GroupBy, "group-by", "", "also store the breakdown per value of this span or resource attribute (e.g. prompt.version), for compare --split")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the input and data-quality summary on stderr")
	opts.Analysis.bind(c)
	opts.Source.bind(c)
	return c
}

func runSnapshot(ctx context.Context, opts *SnapshotOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	s, err := analyzeSource(ctx, opts.IO, &opts.Source, &opts.Analysis, opts.GroupBy, opts.Now(), opts.Quiet)
	if err != nil {
		return err
	}
	if err := writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return s.Write(w) }); err != nil {
		return err
	}
	if !opts.Quiet && opts.Output != "" && opts.Output != "-" {
		fmt.Fprintf(opts.IO.Err, "wrote %s: %s\n", opts.Output, describeSnapshot(s))
	}
	return nil
}

// describeSnapshot counts what a snapshot holds, for stderr.
func describeSnapshot(s *snapshot.Snapshot) string {
	parts := []string{
		fmt.Sprintf("%d requests", s.Requests.Latency.Count),
		fmt.Sprintf("%d stages", len(s.Stages)),
		fmt.Sprintf("%d operations", len(s.Operations)),
	}
	if s.GroupBy != "" {
		parts = append(parts, fmt.Sprintf("%d groups by %s", len(s.Groups), s.GroupBy))
	}
	return strings.Join(parts, ", ")
}
