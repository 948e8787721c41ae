// Package snaptest builds snapshots of generated traffic for the tests of
// snapshot, compare, gate and cmd: synth → sources → analyze → snapshot, as
// the CLI does.
package snaptest

import (
	"bytes"
	"context"
	"slices"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/snapshot"
	"github.com/trace-forensics/trace-forensics/sources"
)

// Traces returns cfg's traffic as OTLP JSON Lines.
func Traces(cfg synth.Config) []byte {
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, cfg); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Analyze reads traces as the CLI does, with the built-in stage rules.
func Analyze(name string, traces []byte, groupBy string) (*analyze.Result, error) {
	rules := analyze.DefaultStageRules()
	keep := append(rules.Keys(), analyze.DefaultHostKeys...)
	if groupBy != "" {
		keep = append(keep, groupBy)
	}
	slices.Sort(keep)
	ds, err := sources.LoadReader(context.Background(), name, bytes.NewReader(traces), sources.Options{Keep: slices.Compact(keep)})
	if err != nil {
		return nil, err
	}
	return analyze.Analyze(ds, analyze.Options{Stages: rules, GroupBy: groupBy, Release: true})
}

// Snapshot is Analyze followed by snapshot.FromResult.
func Snapshot(name string, traces []byte, groupBy string) (*snapshot.Snapshot, error) {
	r, err := Analyze(name, traces, groupBy)
	if err != nil {
		return nil, err
	}
	return snapshot.FromResult(r, snapshot.Meta{Tool: "test", Exemplars: 5})
}

// MustSnapshot is Snapshot of generated traffic, panicking on errors.
func MustSnapshot(name string, cfg synth.Config, groupBy string) *snapshot.Snapshot {
	s, err := Snapshot(name, Traces(cfg), groupBy)
	if err != nil {
		panic(err)
	}
	return s
}
