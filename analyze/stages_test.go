package analyze

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/sources"
)

func TestDefaultStageRulesParse(t *testing.T) {
	rs := DefaultStageRules()
	want := []string{"request entry", "guardrails", "LLM invocation", "retrieval and reranking", "session load",
		"intent classification", "analytics emission", "service fan-out", "persistence"}
	if got := rs.Stages(); !slices.Equal(got, want) {
		t.Errorf("built-in stages %q, want %q", got, want)
	}
	for _, k := range []string{"gen_ai.operation.name", "openinference.span.kind", "db.system.name", "db.system", "messaging.system"} {
		if !slices.Contains(rs.Keys(), k) {
			t.Errorf("built-in rules do not read %s", k)
		}
	}
}

func TestParseStageRulesErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown key", "rules:\n  - stage: x\n    nmae: y\n", `rules.yaml:3: unknown rule key "nmae"`},
		{"bad regexp", "rules:\n  - stage: x\n    name: '('\n", "rules.yaml:3: error parsing regexp"},
		{"bad kind", "rules:\n  - stage: x\n    kind: [server, sever]\n", `"sever" is not a span kind`},
		{"no stage", "rules:\n  - name: x\n", "rules.yaml:2: rule without a stage name"},
		{"no condition", "rules:\n  - stage: x\n", "has no condition"},
		{"bad mode", "mode: merge\nrules:\n  - stage: x\n    root: true\n", `mode: "merge"`},
		{"no rules", "mode: extend\n", "no rules"},
		{"not yaml", "rules: [", "rules.yaml"},
	} {
		_, err := LoadStageRules("rules.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestLoadStageRulesExtendAndReplace(t *testing.T) {
	src := "rules:\n  - stage: cache\n    attributes: {db.system.name: [redis, memcached]}\n    kind: client\n"
	ext, err := LoadStageRules("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if ext.Rules[0].Stage != "cache" || len(ext.Rules) != 1+len(DefaultStageRules().Rules) {
		t.Errorf("extend: %d rules, first %q", len(ext.Rules), ext.Rules[0].Stage)
	}
	if ext.Rules[0].Origin != "r.yaml:2" || ext.Rules[0].Conditions() != "kind client, db.system.name = redis|memcached" {
		t.Errorf("origin %q conditions %q", ext.Rules[0].Origin, ext.Rules[0].Conditions())
	}
	rep, err := LoadStageRules("r.yaml", []byte("mode: replace\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 1 {
		t.Errorf("replace kept %d rules", len(rep.Rules))
	}
}

// The rules decide with the first match, take the root flag and inherit
// into account, and leave the rest to service/operation stages.
func TestStageAssignment(t *testing.T) {
	rules, err := LoadStageRules("r.yaml", []byte(`mode: replace
rules:
  - stage: entry
    root: true
  - stage: fan-out
    name: ^orchestrate$
    inherit: true
  - stage: db
    kind: client
    attributes: {db.system.name: "*"}
  - stage: llm
    service: ^llm$
`))
	if err != nil {
		t.Fatal(err)
	}
	ops := []model.Op{{Service: "gw", Name: "POST /chat"}, {Service: "gw", Name: "orchestrate"}, {Service: "gw", Name: "call profile"}, {Service: "profile", Name: "GET"}, {Service: "profile", Name: "SELECT"}, {Service: "llm", Name: "chat"}, {Service: "gw", Name: "tokenize"}}
	shapes := []model.Shape{
		{Op: 0, Kind: model.KindServer}, {Op: 1}, {Op: 2, Kind: model.KindClient}, {Op: 3, Kind: model.KindServer},
		{Op: 4, Kind: model.KindClient, Attrs: []model.Attr{{Key: "db.system.name", Value: "postgresql"}}},
		{Op: 5, Kind: model.KindClient}, {Op: 6},
	}
	m := newStageMap(rules, shapes, ops)
	var b traceBuilder
	add := func(shape uint32, id, parent model.SpanID, s, e int64) {
		b.spans = append(b.spans, model.Span{Trace: model.TraceID{1}, ID: id, Parent: parent, Start: s, End: e, Shape: shape})
	}
	add(0, 1, 0, 0, 100) // entry (root)
	add(1, 2, 1, 10, 50) // fan-out
	add(2, 3, 2, 11, 40) // unmatched below fan-out: inherits
	add(3, 4, 3, 12, 39) // unmatched, still below: inherits
	add(4, 5, 4, 13, 30) // db matches its own rule
	add(5, 6, 1, 60, 90) // llm
	add(6, 7, 6, 61, 62) // unmatched below llm (no inherit): own stage
	add(0, 8, 1, 91, 95) // the root's shape, not at the root: unmatched
	tr := &Trace{Spans: b.spans}
	tr.assemble()
	n := len(tr.Spans)
	stage, rule, carrier := make([]int32, n), make([]int32, n), make([]int32, n)
	m.assign(tr, func(s uint32) uint32 { return shapes[s].Op }, stage, rule, carrier)
	got := map[model.SpanID]string{}
	for i := range tr.Spans {
		got[tr.Spans[i].ID] = m.name(stage[i])
	}
	want := map[model.SpanID]string{1: "entry", 2: "fan-out", 3: "fan-out", 4: "fan-out", 5: "db", 6: "llm", 7: "gw/tokenize", 8: "gw/POST /chat"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("span %d: stage %q, want %q", id, got[id], w)
		}
	}
}

// loadSynth generates traffic and loads it as the CLI would, keeping the
// attributes the built-in rules and the grouping key need.
func loadSynth(t testing.TB, cfg synth.Config, keep ...string) *model.Dataset {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, DefaultStageRules().Keys()...)
	ds, err := sources.LoadReader(context.Background(), "synth", &buf, sources.Options{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// synthCriticalPath computes the critical-path time per planted stage of
// one generated request, from the generator's own spans and its known
// shape, without the analysis code: every parent's children either run one
// after another, or (the fan-out) start together so that only the last to
// finish is waited on; consumers of a producer run after the request. It
// fails the test if a request has another shape.
func synthCriticalPath(t testing.TB, spans []synth.Span) map[string]int64 {
	kids := map[[8]byte][]int{}
	for i := range spans {
		if i > 0 {
			kids[spans[i].Parent] = append(kids[spans[i].Parent], i)
		}
	}
	out := map[string]int64{}
	var walk func(i int)
	walk = func(i int) {
		s := spans[i]
		var blocking []int
		for _, k := range kids[s.SpanID] {
			if !(spans[k].Kind == 5 && s.Kind == 4) { // consumer of a producer
				blocking = append(blocking, k)
			}
		}
		if len(blocking) == 0 {
			out[s.Stage] += s.End - s.Start
			return
		}
		sameStart := true
		for _, k := range blocking {
			sameStart = sameStart && spans[k].Start == spans[blocking[0]].Start
		}
		if sameStart && len(blocking) > 1 {
			last := blocking[0]
			for _, k := range blocking {
				if spans[k].End > spans[last].End {
					last = k
				}
			}
			out[s.Stage] += s.End - s.Start - (spans[last].End - spans[last].Start)
			walk(last)
			return
		}
		covered := int64(0)
		prevEnd := s.Start
		for _, k := range blocking {
			if spans[k].Start < prevEnd || spans[k].End > s.End {
				t.Fatalf("generated request has an unexpected shape at %s", spans[k].Name)
			}
			prevEnd = spans[k].End
			covered += spans[k].End - spans[k].Start
			walk(k)
		}
		out[s.Stage] += s.End - s.Start - covered
	}
	walk(0)
	return out
}

// expectedShares computes each planted stage's share of the total
// end-to-end latency over cfg's requests, per prompt version too.
func expectedShares(t testing.TB, cfg synth.Config) (all map[string]float64, byVersion map[string]map[string]float64) {
	g := synth.New(cfg)
	tot := map[string]int64{}
	sum := int64(0)
	vtot := map[string]map[string]int64{}
	vsum := map[string]int64{}
	for range cfg.Requests {
		spans := g.Next()
		cp := synthCriticalPath(t, spans)
		d := spans[0].End - spans[0].Start
		var v string
		for _, kv := range spans[0].Attrs {
			if kv.Key == "prompt.version" {
				v = kv.Value.(string)
			}
		}
		if vtot[v] == nil {
			vtot[v] = map[string]int64{}
		}
		checkSum := int64(0)
		for st, ns := range cp {
			tot[st] += ns
			vtot[v][st] += ns
			checkSum += ns
		}
		if checkSum != d {
			t.Fatalf("independent critical path sums to %d, request lasts %d", checkSum, d)
		}
		sum += d
		vsum[v] += d
	}
	all = map[string]float64{}
	for st, ns := range tot {
		all[st] = float64(ns) / float64(sum)
	}
	byVersion = map[string]map[string]float64{}
	for v, m := range vtot {
		byVersion[v] = map[string]float64{}
		for st, ns := range m {
			byVersion[v][st] = float64(ns) / float64(vsum[v])
		}
	}
	return all, byVersion
}

func stageShares(stages []StageStats) map[string]float64 {
	out := map[string]float64{}
	for _, s := range stages {
		if s.Share > 0 {
			out[s.Stage] = s.Share
		}
	}
	return out
}

func compareShares(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for st, w := range want {
		if math.Abs(got[st]-w) > 1e-9 {
			t.Errorf("%s: %s share %.6f, expected %.6f", what, st, got[st], w)
		}
	}
	for st, g := range got {
		if _, ok := want[st]; !ok {
			t.Errorf("%s: unexpected stage %s with share %.6f", what, st, g)
		}
	}
}

// Every generated span lands in the stage the generator planted it in.
func TestDefaultRulesMapGeneratedStages(t *testing.T) {
	cfg := synth.Config{Requests: 40, Seed: 5}
	ds := loadSynth(t, cfg)
	shapes, ops := ds.Catalog.Shapes(), ds.Catalog.Ops()
	m := newStageMap(nil, shapes, ops)
	g := synth.New(cfg)
	planted := map[model.SpanID]string{}
	for range cfg.Requests {
		for _, s := range g.Next() {
			planted[model.SpanID(uint64(s.SpanID[0])<<56|uint64(s.SpanID[1])<<48|uint64(s.SpanID[2])<<40|uint64(s.SpanID[3])<<32|
				uint64(s.SpanID[4])<<24|uint64(s.SpanID[5])<<16|uint64(s.SpanID[6])<<8|uint64(s.SpanID[7]))] = s.Stage
		}
	}
	checked := 0
	for _, tr := range datasetTraces(ds) {
		tr.assemble()
		n := len(tr.Spans)
		stage, rule, carrier := make([]int32, n), make([]int32, n), make([]int32, n)
		m.assign(tr, func(s uint32) uint32 { return shapes[s].Op }, stage, rule, carrier)
		for i := range tr.Spans {
			op := ops[shapes[tr.Spans[i].Shape].Op]
			if got, want := m.name(stage[i]), planted[tr.Spans[i].ID]; got != want {
				t.Errorf("%s %s: stage %q, planted %q", op.Service, op.Name, got, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no spans checked")
	}
}

// Stage shares of generated traffic, with latencies planted in one stage,
// match the shares computed from the generator's spans.
func TestStageSharesOfGeneratedTraffic(t *testing.T) {
	for _, c := range []struct {
		name   string
		factor map[string]float64
		grows  string
	}{
		{"baseline", nil, ""},
		{"slow retrieval", map[string]float64{synth.StageRetrieval: 4}, synth.StageRetrieval},
		{"slow session store", map[string]float64{synth.StageSession: 10}, synth.StageSession},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := synth.Config{Requests: 400, Seed: 21, StageFactor: c.factor}
			want, _ := expectedShares(t, cfg)
			res, err := Analyze(loadSynth(t, cfg), Options{})
			if err != nil {
				t.Fatal(err)
			}
			compareShares(t, c.name, stageShares(res.Stages), want)
			sum := 0.0
			for _, s := range res.Stages {
				sum += s.Share
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("stage shares sum to %v", sum)
			}
			if c.grows != "" {
				base, _ := expectedShares(t, synth.Config{Requests: 400, Seed: 21})
				if stageShares(res.Stages)[c.grows] < 1.5*base[c.grows] {
					t.Errorf("%s: share %.3f did not grow from %.3f", c.grows, stageShares(res.Stages)[c.grows], base[c.grows])
				}
			}
			for _, w := range res.Warnings {
				t.Errorf("clean traffic gave warning %s: %s", w.Kind, w.Example)
			}
		})
	}
}

// --group-by prompt.version with a regression planted in version B: each
// group's stage shares match the generator's, and B's LLM share is larger.
func TestGroupsOfGeneratedTraffic(t *testing.T) {
	cfg := synth.Config{Requests: 400, Seed: 9, LLMFactor: map[string]float64{"B": 1.6}}
	_, want := expectedShares(t, cfg)
	res, err := Analyze(loadSynth(t, cfg, "prompt.version"), Options{GroupBy: "prompt.version"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 2 || res.Groups[0].Value != "A" || res.Groups[1].Value != "B" {
		t.Fatalf("groups %+v", res.Groups)
	}
	total := int64(0)
	for _, g := range res.Groups {
		compareShares(t, "version "+g.Value, stageShares(g.Stages), want[g.Value])
		total += g.Requests.Summary.Count
		if len(g.Operations) == 0 || g.Key != "prompt.version" {
			t.Errorf("group %s: %d operations, key %q", g.Value, len(g.Operations), g.Key)
		}
	}
	if total != res.Requests.Summary.Count {
		t.Errorf("groups hold %d requests of %d", total, res.Requests.Summary.Count)
	}
	a, b := stageShares(res.Groups[0].Stages), stageShares(res.Groups[1].Stages)
	if b[synth.StageLLM] <= a[synth.StageLLM] {
		t.Errorf("LLM share: A %.3f, B %.3f; the planted regression is in B", a[synth.StageLLM], b[synth.StageLLM])
	}
	// A key with too many values is refused before any work.
	_, err = Analyze(loadSynth(t, synth.Config{Requests: 200, Seed: 1}, "session.id"), Options{GroupBy: "session.id"})
	if err == nil || !strings.Contains(err.Error(), "distinct values") {
		t.Errorf("high-cardinality key: %v", err)
	}
}

// Tail anatomy: bands partition the requests, and planting a slow stage in
// a fraction of requests makes it grow in the tail bands.
func TestBandsOfGeneratedTraffic(t *testing.T) {
	res, err := Analyze(loadSynth(t, synth.Config{Requests: 1000, Seed: 3}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Bands) != 4 {
		t.Fatalf("%d bands", len(res.Bands))
	}
	var n, ns int64
	for _, b := range res.Bands {
		n += b.Requests.Count
		ns += b.TotalRequestNs
		sum := 0.0
		for _, s := range b.Stages {
			sum += s.Share
		}
		if math.Abs(sum-1) > 1e-3 { // band figures are kept in µs
			t.Errorf("band %s: stage shares sum to %v", b.Name, sum)
		}
		if len(b.Stages) != len(res.Stages) || b.Stages[0].Stage != res.Stages[0].Stage {
			t.Errorf("band %s: stages not in the top-level order", b.Name)
		}
	}
	if n != res.Requests.Summary.Count {
		t.Errorf("bands hold %d requests of %d", n, res.Requests.Summary.Count)
	}
	if math.Abs(float64(ns-res.TotalRequestNs)) > float64(n)*500 {
		t.Errorf("bands hold %d ns of %d", ns, res.TotalRequestNs)
	}
	if got := res.Bands[0].Requests.Count; got < 480 || got > 520 {
		t.Errorf("p0-p50 band holds %d of 1000 requests", got)
	}
	// The LLM call dominates the tail of this traffic: its share grows
	// from the median band to the p99+ band.
	llm := func(b BandStats) float64 { return stageShares(b.Stages)[synth.StageLLM] }
	if !(llm(res.Bands[3]) > llm(res.Bands[0])) {
		t.Errorf("LLM share: p0-p50 %.3f, p99+ %.3f", llm(res.Bands[0]), llm(res.Bands[3]))
	}
}
