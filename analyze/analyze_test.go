package analyze

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/sources"
)

// jaegerDataset writes hand-built trees ("service:operation" names, times
// in µs) as Jaeger JSON, one trace per tree, and loads it as the CLI would.
func jaegerDataset(t testing.TB, keep []string, trees ...*node) *model.Dataset {
	t.Helper()
	type tag struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	}
	type ref struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	}
	type span struct {
		TraceID       string `json:"traceID"`
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []ref  `json:"references"`
		StartTime     int64  `json:"startTime"`
		Duration      int64  `json:"duration"`
		Tags          []tag  `json:"tags"`
		ProcessID     string `json:"processID"`
	}
	type process struct {
		ServiceName string `json:"serviceName"`
		Tags        []tag  `json:"tags"`
	}
	type trace struct {
		TraceID   string             `json:"traceID"`
		Spans     []span             `json:"spans"`
		Processes map[string]process `json:"processes"`
	}
	var doc struct {
		Data []trace `json:"data"`
	}
	next := 0
	for ti, root := range trees {
		tr := trace{TraceID: fmt.Sprintf("%032x", ti+1), Processes: map[string]process{}}
		var walk func(n *node, parent string)
		walk = func(n *node, parent string) {
			next++
			id := fmt.Sprintf("%016x", next)
			svc, op, _ := strings.Cut(n.name, ":")
			tr.Processes[svc] = process{ServiceName: svc}
			s := span{TraceID: tr.TraceID, SpanID: id, OperationName: op, StartTime: n.start, Duration: n.end - n.start, ProcessID: svc}
			if parent != "" {
				rt := "CHILD_OF"
				if n.flags&model.FlagFollowsFrom != 0 {
					rt = "FOLLOWS_FROM"
				}
				s.References = []ref{{RefType: rt, TraceID: tr.TraceID, SpanID: parent}}
			}
			if n.kind != model.KindUnspecified {
				s.Tags = append(s.Tags, tag{"span.kind", "string", n.kind.String()})
			}
			if n.flags&model.FlagError != 0 {
				s.Tags = append(s.Tags, tag{"error", "bool", true})
			}
			for _, a := range n.attrs {
				s.Tags = append(s.Tags, tag{a.Key, "string", a.Value})
			}
			tr.Spans = append(tr.Spans, s)
			for _, k := range n.kids {
				walk(k, id)
			}
		}
		walk(root, "")
		doc.Data = append(doc.Data, tr)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := sources.LoadReader(context.Background(), "hand-built.json", strings.NewReader(string(raw)), sources.Options{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func (n *node) with(key, value string) *node {
	n.attrs = append(n.attrs, model.Attr{Key: key, Value: value})
	return n
}

func opStats(t *testing.T, r *Result, svcOp string) OperationStats {
	t.Helper()
	svc, op, _ := strings.Cut(svcOp, ":")
	for _, o := range r.Operations {
		if o.Service == svc && o.Operation == op {
			return o
		}
	}
	t.Fatalf("no operation %s in %v", svcOp, r.Operations)
	return OperationStats{}
}

func stageStats(t *testing.T, stages []StageStats, name string) StageStats {
	t.Helper()
	for _, s := range stages {
		if s.Stage == name {
			return s
		}
	}
	t.Fatalf("no stage %q", name)
	return StageStats{}
}

func warnCount(r *Result, kind string) int {
	for _, w := range r.Warnings {
		if w.Kind == kind {
			return w.Count
		}
	}
	return 0
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// An operation's critical-path figure is per request: the sum over its
// spans in the request, 0 in requests without it (as CRISP reports it).
func TestAnalyzeCriticalPathPerOperation(t *testing.T) {
	ds := jaegerDataset(t, nil,
		span("gw:root", 0, 100_000, span("db:query", 10_000, 40_000), span("db:query", 50_000, 70_000)),
		span("gw:root", 0, 200_000, span("db:query", 50_000, 100_000)),
		span("gw:root", 0, 300_000, span("cache:get", 0, 30_000)))
	res, err := Analyze(ds, Options{Percentiles: []float64{50, 100}})
	if err != nil {
		t.Fatal(err)
	}
	db := opStats(t, res, "db:query")
	if db.Count != 3 || db.Requests != 2 || db.CriticalPathDist.Count != 3 {
		t.Errorf("db: %d spans in %d requests, %d critical-path values", db.Count, db.Requests, db.CriticalPathDist.Count)
	}
	// Per request: 50 ms, 50 ms and 0.
	if got := db.CriticalPath.Quantiles; got[0] != 50 || got[1] != 50 || db.CriticalPath.Min != 0 {
		t.Errorf("db critical path %+v", db.CriticalPath)
	}
	if !near(db.CriticalPathShare, 100.0/600) {
		t.Errorf("db critical-path share %v, want 1/6", db.CriticalPathShare)
	}
	if got := db.ShareOfRequest; math.Abs(got[0]-50.0/200) > 1e-3 || !near(got[1], 50.0/300) { // HDR: p50 of 200 ms is 200.063
		t.Errorf("db share of request %v", got)
	}
	sum := 0.0
	for _, o := range res.Operations {
		sum += o.CriticalPathShare
	}
	if !near(sum, 1) {
		t.Errorf("operations' critical-path shares sum to %v", sum)
	}
	if res.TotalRequestNs != 600_000_000 {
		t.Errorf("total request time %d", res.TotalRequestNs)
	}
}

// Spans off the critical path (wholly outside the parent, async) keep their
// own statistics; the adjustments are counted.
func TestAnalyzeKeepsOffPathSpans(t *testing.T) {
	ds := jaegerDataset(t, nil,
		span("gw:root", 0, 100_000,
			span("gw:late", 150_000, 160_000),               // same service: not a clock, dropped
			span("gw:async", 90_000, 300_000).followsFrom(), // not waited for
			span("gw:work", 10_000, 50_000)))
	res, err := Analyze(ds, Options{MaxClockSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gw:late", "gw:async"} {
		o := opStats(t, res, name)
		if o.Count != 1 || o.CriticalPath.Max != 0 || o.Duration.Max == 0 {
			t.Errorf("%s: count %d, critical path %+v, duration %+v", name, o.Count, o.CriticalPath, o.Duration)
		}
	}
	if got := warnCount(res, WarnChildOutside); got != 1 {
		t.Errorf("%s = %d, want 1", WarnChildOutside, got)
	}
	if got := opStats(t, res, "gw:work").CriticalPath.Max; got != 40 {
		t.Errorf("work critical path %v ms, want 40", got)
	}
}

// Every adjustment is a counted warning with an example; skew shifts are
// counted per service.
func TestAnalyzeCountsAdjustments(t *testing.T) {
	ds := jaegerDataset(t, nil,
		span("gw:root", 0, 1_000_000, span("gw:clipped", 900_000, 1_200_000)), // sticks out by 20 %
		span("gw:root", 0, 1_000_000, span("gw:shifted", 100_000, 1_005_000)), // sticks out by 0.5 %
		span("gw:root", 0, 1_000_000,
			span("gw:a", 100_000, 300_000), span("gw:b", 299_000, 400_000)), // b overlaps a by 0.1 %
		span("gw:root", 0, 100_000,
			span("api:server", 150_000, 190_000), // another service outside: centred
			span("far:server", 5_000_000, 5_010_000)))
	res, err := Analyze(ds, Options{MaxClockSkew: 10_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]int{WarnChildClipped: 1, WarnChildShifted: 1, WarnSiblingOverlap: 1, WarnClockSkew: 2} {
		if got := warnCount(res, kind); got != want {
			t.Errorf("%s = %d, want %d (warnings %+v)", kind, got, want, res.Warnings)
		}
	}
	for _, w := range res.Warnings {
		if !strings.Contains(w.Example, "trace ") {
			t.Errorf("%s: example %q does not say where", w.Kind, w.Example)
		}
	}
	if len(res.ClockSkew) != 2 || res.ClockSkew[0].Service != "api" || res.ClockSkew[0].Adjusted != 1 || res.ClockSkew[0].MaxShiftNs != 120_000_000 {
		t.Errorf("clock skew per service %+v", res.ClockSkew)
	}
	// Under a 1 s cap the far server is not moved but counted.
	res, _ = Analyze(jaegerDataset(t, nil, span("gw:root", 0, 100_000, span("far:server", 5_000_000, 5_010_000))), Options{})
	if warnCount(res, WarnClockSkewOver) != 1 || warnCount(res, WarnClockSkew) != 0 || res.ClockSkew[0].Exceeded != 1 {
		t.Errorf("over the cap: %+v %+v", res.Warnings, res.ClockSkew)
	}
}

// Coverage: a parent's own time on the critical path is untraced, located
// between the children that bound it; rules' stages that never occur are
// missing.
func TestCoverageUntracedAndMissingStages(t *testing.T) {
	rules, err := LoadStageRules("r.yaml", []byte(`mode: replace
rules:
  - stage: entry
    root: true
  - stage: session load
    service: ^session$
  - stage: LLM invocation
    service: ^llm$
  - stage: guardrails
    name: guardrail
`))
	if err != nil {
		t.Fatal(err)
	}
	// 100 ms request: session 10–30, a 40 ms untraced gap, llm 70–95.
	tree := func() *node {
		return span("gw:POST /chat", 0, 100_000, span("session:load", 10_000, 30_000), span("llm:chat", 70_000, 95_000))
	}
	res, err := Analyze(jaegerDataset(t, nil, tree(), tree()), Options{Stages: rules})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Coverage
	if !near(c.UntracedShare, 0.55) { // 10 + 40 + 5 ms of 100
		t.Errorf("untraced share %v, want 0.55", c.UntracedShare)
	}
	if len(c.Operations) != 1 {
		t.Fatalf("untraced operations %+v", c.Operations)
	}
	u := c.Operations[0]
	if u.Service != "gw" || u.Operation != "POST /chat" || u.Stage != "entry" || !near(u.Share, 0.55) {
		t.Errorf("untraced op %+v", u)
	}
	if u.Gap.After != "session load" || u.Gap.AfterStage != "session load" {
		t.Errorf("gap after %q (%q), want the session load", u.Gap.After, u.Gap.AfterStage)
	}
	if u.Gap.Before != "llm chat" || u.Gap.BeforeStage != "LLM invocation" || !near(u.Gap.Share, 0.4) {
		t.Errorf("largest gap %+v, want between session load and LLM invocation, 40%%", u.Gap)
	}
	if !slices.Equal(c.MissingStages, []string{"guardrails"}) {
		t.Errorf("missing stages %v", c.MissingStages)
	}
	entry := stageStats(t, res.Stages, "entry")
	if !near(entry.UntracedShare, 0.55) || entry.Untraced.Max != 55 {
		t.Errorf("entry stage untraced %v / %+v", entry.UntracedShare, entry.Untraced)
	}
}

func TestRuleUsage(t *testing.T) {
	rules, err := LoadStageRules("r.yaml", []byte(`mode: replace
rules:
  - stage: entry
    root: true
  - stage: fan-out
    name: orchestrate
    inherit: true
  - stage: never
    name: nothing-is-called-this
`))
	if err != nil {
		t.Fatal(err)
	}
	ds := jaegerDataset(t, nil, span("gw:root", 0, 100, span("gw:orchestrate", 10, 90, span("gw:call", 20, 80)), span("gw:other", 90, 95)))
	res, err := Analyze(ds, Options{Stages: rules, RuleUsage: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rules) != 3 {
		t.Fatalf("%d rules", len(res.Rules))
	}
	r := res.Rules[1]
	if len(r.Matched) != 1 || r.Matched[0].Operation != "orchestrate" || len(r.Inherited) != 1 || r.Inherited[0].Operation != "call" {
		t.Errorf("rule 2 caught %+v, passed down to %+v", r.Matched, r.Inherited)
	}
	if len(res.Rules[2].Matched) != 0 || len(res.Unmatched) != 1 || res.Unmatched[0].Operation != "other" {
		t.Errorf("rule 3 %+v, unmatched %+v", res.Rules[2], res.Unmatched)
	}
	if r.Origin != "r.yaml:5" || !strings.Contains(r.Conditions, "orchestrate") {
		t.Errorf("origin %q conditions %q", r.Origin, r.Conditions)
	}
}

// TestQuantilesPreparedInParallel checks that the figures do not depend on
// how many goroutines computed the quantiles, and that every reported
// quantile is the one a histogram of the same values gives: enough
// requests that the large distributions take the selection path.
func TestQuantilesPreparedInParallel(t *testing.T) {
	ds := loadSynth(t, synth.Config{Requests: 6000, Seed: 11}, "prompt.version")
	pct := []float64{50, 95, 99, 99.9}
	var results []*Result
	for _, workers := range []int{1, 3} {
		r, err := Analyze(ds, Options{Workers: workers, Percentiles: pct, GroupBy: "prompt.version"})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	check := func(what string, d Dist, s Summary) {
		t.Helper()
		if d.Count <= sortMax && what == "requests" {
			t.Fatalf("%s: %d values do not reach the selection path", what, d.Count)
		}
		h := d.Histogram()
		for i, p := range pct {
			want := nsToMs(min(max(h.ValueAtPercentile(p)*1000, d.MinNs), d.MaxNs))
			if s.Quantiles[i] != want {
				t.Errorf("%s p%v = %v, histogram says %v", what, p, s.Quantiles[i], want)
			}
		}
	}
	for _, r := range results {
		check("requests", r.Requests.Dist, r.Requests.Summary)
		for _, op := range r.Operations {
			check(op.Service+" "+op.Operation+" duration", op.DurationDist, op.Duration)
			check(op.Service+" "+op.Operation+" critical path", op.CriticalPathDist, op.CriticalPath)
		}
		for _, st := range r.Stages {
			check(st.Stage+" critical path", st.CriticalPathDist, st.CriticalPath)
			check(st.Stage+" duration", st.DurationDist, st.Duration)
		}
		if len(r.Groups) < 2 {
			t.Fatalf("%d groups, want the prompt versions", len(r.Groups))
		}
	}
	if !reflect.DeepEqual(summaries(results[0]), summaries(results[1])) {
		t.Errorf("one goroutine and three give different figures")
	}
}

func summaries(r *Result) []Summary {
	out := []Summary{r.Requests.Summary, r.Coverage.Untraced}
	for _, op := range r.Operations {
		out = append(out, op.Duration, op.Self, op.CriticalPath)
	}
	for _, st := range r.Stages {
		out = append(out, st.CriticalPath, st.Self, st.Duration, st.Untraced)
	}
	for _, g := range r.Groups {
		out = append(out, g.Requests.Summary)
		for _, st := range g.Stages {
			out = append(out, st.CriticalPath, st.Self, st.Duration, st.Untraced)
		}
	}
	return out
}
