package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/gate"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/snapshot"
	"github.com/trace-forensics/trace-forensics/sources"
)

// A report from a snapshot shows the numbers the report from the traces
// shows, for what a snapshot keeps.
func TestResultFromSnapshotKeepsTheNumbers(t *testing.T) {
	r := sampleResult(t, 400)
	s, err := snapshot.FromResult(r, snapshot.Meta{Exemplars: 5})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := snapshot.Read(&buf, "snap.json")
	if err != nil {
		t.Fatal(err)
	}
	got := ResultFromSnapshot(back, r.Percentiles)
	if !slices.Equal(got.Requests.Summary.Quantiles, r.Requests.Summary.Quantiles) || got.Requests.Summary.Max != r.Requests.Summary.Max ||
		got.Requests.Summary.Mean != r.Requests.Summary.Mean || got.Requests.Errors != r.Requests.Errors {
		t.Errorf("requests: %+v, want %+v", got.Requests.Summary, r.Requests.Summary)
	}
	if !slices.Equal(got.Requests.Exemplars, r.Requests.Exemplars) {
		t.Error("exemplars differ")
	}
	if len(got.Stages) != len(r.Stages) {
		t.Fatalf("%d stages, want %d", len(got.Stages), len(r.Stages))
	}
	for i, st := range r.Stages {
		g := got.Stages[i]
		if g.Stage != st.Stage || !slices.Equal(g.CriticalPath.Quantiles, st.CriticalPath.Quantiles) || g.Share-st.Share > 1e-9 || st.Share-g.Share > 1e-9 {
			t.Errorf("stage %s: %s %v %.6f, want %v %.6f", st.Stage, g.Stage, g.CriticalPath.Quantiles, g.Share, st.CriticalPath.Quantiles, st.Share)
		}
	}
	for i, op := range r.Operations {
		g := got.Operations[i]
		if g.Service != op.Service || g.Operation != op.Operation || !slices.Equal(g.Duration.Quantiles, op.Duration.Quantiles) {
			t.Errorf("operation %d: %s %s, want %s %s", i, g.Service, g.Operation, op.Service, op.Operation)
		}
	}
	if len(got.Groups) != len(r.Groups) || got.Groups[0].Value != r.Groups[0].Value ||
		!slices.Equal(got.Groups[0].Requests.Summary.Quantiles, r.Groups[0].Requests.Summary.Quantiles) {
		t.Error("groups differ")
	}
	var md bytes.Buffer
	if err := PostmortemMarkdown(&md, got, PostmortemOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md.String(), "## Tail anatomy") || !strings.Contains(md.String(), "## Stage breakdown") {
		t.Error("a snapshot report shows a tail anatomy, or no stages")
	}
}

func snapOf(t *testing.T, seed uint64, llm float64) *snapshot.Snapshot {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: 500, Seed: seed, StageFactor: map[string]float64{synth.StageLLM: llm}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.jsonl")
	os.WriteFile(path, buf.Bytes(), 0o644)
	rules := analyze.DefaultStageRules()
	ds, err := sources.Load(context.Background(), []string{path}, sources.Options{Keep: rules.Keys()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := analyze.Analyze(ds, analyze.Options{Stages: rules})
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.FromResult(r, snapshot.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestComparisonAndGateSections(t *testing.T) {
	base, slower := snapOf(t, 1, 1), snapOf(t, 2, 1.5)
	c := compare.Compare(base.Breakdown(), slower.Breakdown(), compare.Options{BaseLabel: "base.json", NewLabel: "today"})
	sec := ComparisonOf(c)
	if !strings.Contains(sec.Headline, "Against base.json, end-to-end p95 went") || !strings.Contains(sec.Headline, "significant)") {
		t.Errorf("headline: %s", sec.Headline)
	}
	if !strings.Contains(strings.Join(sec.Lines, " "), "Stages that changed at p95: LLM invocation") {
		t.Errorf("lines: %v", sec.Lines)
	}
	if len(sec.Tables) != 1 || sec.Tables[0].Rows[0][0].Text != "end to end" || !strings.Contains(sec.Tables[0].Rows[1][3].Text, "*") {
		t.Errorf("table: %+v", sec.Tables[0].Rows[:2])
	}
	v, err := gate.Evaluate(base.Breakdown(), slower.Breakdown(), gate.DefaultRules(), gate.Options{BaseLabel: "base.json", NewLabel: "today"})
	if err != nil {
		t.Fatal(err)
	}
	g := GateOf(v)
	if g.Verdict != "fail" || !strings.HasPrefix(g.Headline, "The latency gate failed") || len(g.Tables) != 2 {
		t.Errorf("gate: %+v", g)
	}
	r := ResultFromSnapshot(slower, nil)
	var html bytes.Buffer
	if err := PostmortemHTML(&html, r, PostmortemOptions{Comparison: g}); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	for _, want := range []string{`<div class="figure bad"><div class="label">latency gate</div><div class="value">FAIL</div>`, `<p class="verdict fail">`, `id="comparison"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The same traffic passes.
	same := snapOf(t, 3, 1)
	v, err = gate.Evaluate(base.Breakdown(), same.Breakdown(), gate.DefaultRules(), gate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := GateOf(v); g.Verdict != "pass" || !strings.HasPrefix(g.Headline, "The latency gate passed") {
		t.Errorf("same traffic: %s %s", g.Verdict, g.Headline)
	}
}
