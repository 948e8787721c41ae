package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/report"
)

// StagesOptions are the inputs of `trace-forensics stages`.
type StagesOptions struct {
	IO         IO
	Source     sourceOptions
	StagesFile string
	Format     string
	Defaults   bool
	Quiet      bool
}

// NewCmdStages builds the command; runF replaces the run function in tests.
func NewCmdStages(io IO, runF func(*StagesOptions) error) *cobra.Command {
	opts := &StagesOptions{IO: io}
	c := &cobra.Command{
		Use:   "stages [flags] [SOURCE...]",
		Short: "Show the stage rules and which operations each one catches",
		Long: `Prints the rules that map spans to stages (request entry, session load, intent
classification, service fan-out, retrieval and reranking, LLM invocation,
guardrails, persistence, analytics emission), in the order they are tried. With
a SOURCE, it also lists under each rule the operations whose spans it caught,
the operations no rule caught (each becomes a stage named service/operation)
and the stages no span fell in, so the mapping can be checked before the
breakdown is trusted.

The built-in rules key on the OpenTelemetry semantic conventions
(gen_ai.operation.name, openinference.span.kind, db.system.name,
messaging.system, …) and on span names. --stages FILE adds rules of your own in
front of them, or replaces them when the file says "mode: replace";
--defaults prints the built-in rules as such a file, to start from.

Attribute values are read to match rules, never printed.`,
		Example: `  trace-forensics stages
  trace-forensics stages testdata/sample/chat.otlp.jsonl
  trace-forensics stages --defaults > stages.yaml
  trace-forensics stages --stages stages.yaml --format json exports/`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Source.args = args
			if runF != nil {
				return runF(opts)
			}
			return runStages(c.Context(), opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.StagesFile, "stages", "", "YAML file of stage rules, before the built-in ones (or instead: mode: replace)")
	fl.StringVarP(&opts.Format, "format", "f", "table", "output format: table, json")
	fl.BoolVar(&opts.Defaults, "defaults", false, "print the built-in rules as a rules file and exit")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the input and data-quality summary on stderr")
	opts.Source.bind(c)
	return c
}

// stageRules reads --stages, or returns the built-in rules.
func stageRules(path string) (*analyze.StageRules, error) {
	if path == "" {
		return analyze.DefaultStageRules(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--stages: %w", err)
	}
	rules, err := analyze.LoadStageRules(path, data)
	if err != nil {
		return nil, usagef("--stages: %v", err)
	}
	return rules, nil
}

// keepKeys are the attribute keys whose values the reader must keep for
// the stage rules and the grouping key; no other value is ever read.
func keepKeys(rules *analyze.StageRules, groupBy string) []string {
	keys := append(rules.Keys(), analyze.DefaultHostKeys...)
	if groupBy != "" {
		keys = append(keys, groupBy)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func runStages(ctx context.Context, opts *StagesOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Defaults {
		_, err := opts.IO.Out.Write(analyze.DefaultStagesYAML())
		return err
	}
	if opts.Format != "table" && opts.Format != "json" {
		return usagef("--format: %q is not one of table, json", opts.Format)
	}
	rules, err := stageRules(opts.StagesFile)
	if err != nil {
		return err
	}
	res := &analyze.Result{Rules: analyze.DescribeRules(rules)}
	redactOutput(res, opts.Source.redactor())
	withData := opts.Source.hasInput()
	if withData {
		opts.Source.keep = keepKeys(rules, "")
		ds, err := opts.Source.load(ctx, opts.IO)
		if err != nil {
			return err
		}
		if res, err = analyze.Analyze(ds, analyze.Options{Stages: rules, RuleUsage: true, Release: true}); err != nil {
			return err
		}
		redactOutput(res, opts.Source.redactor())
		if !opts.Quiet {
			writeSummary(opts.IO, res)
		}
	}
	var buf bytes.Buffer
	if opts.Format == "json" {
		err = report.RulesJSON(&buf, res)
	} else {
		err = report.Rules(&buf, res, withData)
	}
	if err != nil {
		return err
	}
	_, err = opts.IO.Out.Write(buf.Bytes())
	return err
}
