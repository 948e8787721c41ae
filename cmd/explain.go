package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/report"
)

// ExplainOptions are the inputs of `trace-forensics explain`.
type ExplainOptions struct {
	IO         IO
	TraceID    string
	Source     sourceOptions
	Format     string
	Output     string
	StagesFile string
	MaxSkew    time.Duration
	Width      int
}

// NewCmdExplain builds the command; runF replaces the run function in tests.
func NewCmdExplain(io IO, runF func(*ExplainOptions) error) *cobra.Command {
	opts := &ExplainOptions{IO: io}
	c := &cobra.Command{
		Use:   "explain [flags] TRACE_ID [SOURCE...]",
		Short: "Explain one trace: a waterfall with its critical path and stages",
		Long: `Prints one trace as a waterfall: a line per span, indented by depth, with its
start, duration, time on the critical path and stage, and a bar scaled to the
terminal width in which the critical path is marked. Then the trace's stage
breakdown. The trace ID is as reports print it (32 hex digits, or the original
text of a non-hex Jaeger ID); shorter hex IDs are left-padded.`,
		Example: `  trace-forensics explain cd7e27c3d5db082415a887eb30224df0 traces.json
  trace-forensics explain --format json 4bf92f3577b34da6a3ce929d0e0e4736 exports/
  trace-forensics explain 4bf92f3577b34da6a3ce929d0e0e4736 --jaeger http://localhost:16686`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.TraceID, opts.Source.args = args[0], args[1:]
			if opts.Source.live.isLive() && len(opts.Source.live.traceIDs) == 0 && opts.Source.live.traceIDsFrom == "" {
				opts.Source.live.traceIDs = []string{opts.TraceID}
			}
			if runF != nil {
				return runF(opts)
			}
			return runExplain(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&opts.Format, "format", "f", "table", "output format: table, json, markdown")
	fl.StringVarP(&opts.Output, "output", "o", "", "write the report to this file instead of stdout")
	fl.StringVar(&opts.StagesFile, "stages", "", "YAML file of stage rules, before the built-in ones (or instead: mode: replace)")
	fl.DurationVar(&opts.MaxSkew, "max-clock-skew", analyze.DefaultMaxClockSkew, "largest clock-skew shift of a child span into its parent on another host; 0 disables")
	fl.IntVar(&opts.Width, "width", 0, "width of the waterfall in columns (default: the terminal's, else 120)")
	opts.Source.bind(c)
	// The first argument is the trace, not a source: with --jaeger it is
	// the only one, and the pull asks for that trace.
	c.Args = func(cmd *cobra.Command, args []string) error {
		if opts.Source.live.isLive() {
			return cobra.ExactArgs(1)(cmd, args)
		}
		return cobra.MinimumNArgs(2)(cmd, args)
	}
	return c
}

func runExplain(ctx context.Context, opts *ExplainOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	width := opts.Width
	if width == 0 {
		width = opts.IO.TerminalWidth
	}
	var render func(*bytes.Buffer, *analyze.Explanation) error
	switch opts.Format {
	case "table":
		render = func(w *bytes.Buffer, x *analyze.Explanation) error { return report.ExplainTable(w, x, width) }
	case "markdown":
		render = func(w *bytes.Buffer, x *analyze.Explanation) error { return report.ExplainMarkdown(w, x, width) }
	case "json":
		render = func(w *bytes.Buffer, x *analyze.Explanation) error { return report.ExplainJSON(w, x) }
	default:
		return usagef("--format: %q is not one of table, json, markdown", opts.Format)
	}
	if opts.Width < 0 {
		return usagef("--width: must not be negative")
	}
	aopt, err := analysisOptions(opts.StagesFile, "", opts.MaxSkew, &opts.Source)
	if err != nil {
		return err
	}
	ds, err := opts.Source.load(ctx, opts.IO)
	if err != nil {
		return err
	}
	x, err := analyze.Explain(ds, opts.TraceID, aopt)
	var nf analyze.ErrTraceNotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (read %d spans from %d input(s))", err, ds.Spans, len(ds.Inputs))
	}
	if err != nil {
		return err
	}
	redactOutput(x, opts.Source.redactor())
	return writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return render(w, x) })
}
