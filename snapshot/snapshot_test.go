package snapshot_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/internal/snaptest"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

func roundTrip(t *testing.T, s *snapshot.Snapshot) *snapshot.Snapshot {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !snapshot.Is(buf.Bytes()) {
		t.Fatal("a written snapshot is not recognised as one")
	}
	r, err := snapshot.Read(&buf, "rt.json")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A snapshot reports exactly the breakdown's numbers, before and after a
// trip through its file.
func TestSnapshotKeepsTheBreakdownsNumbers(t *testing.T) {
	res, err := snaptest.Analyze("chat.jsonl", snaptest.Traces(synth.Config{Requests: 300, Seed: 7, LLMFactor: map[string]float64{"B": 1.2}}), "prompt.version")
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.FromResult(res, snapshot.Meta{Tool: "test", Exemplars: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, snap := range []*snapshot.Snapshot{s, roundTrip(t, s)} {
		checkQuantiles(t, "requests", &snap.Requests.Latency, res.Requests.Summary)
		if len(snap.Stages) != len(res.Stages) || len(snap.Operations) != len(res.Operations) {
			t.Fatalf("%d stages, %d operations; want %d, %d", len(snap.Stages), len(snap.Operations), len(res.Stages), len(res.Operations))
		}
		for i, st := range res.Stages {
			checkQuantiles(t, st.Stage+" critical path", &snap.Stages[i].CriticalPath, st.CriticalPath)
			checkQuantiles(t, st.Stage+" self", &snap.Stages[i].Self, st.Self)
			checkQuantiles(t, st.Stage+" duration", &snap.Stages[i].Duration, st.Duration)
		}
		for i, op := range res.Operations {
			name := op.Service + "/" + op.Operation
			if got := snap.Operations[i].Name(); got != name {
				t.Errorf("operation %d is %s, want %s", i, got, name)
			}
			checkQuantiles(t, name+" duration", &snap.Operations[i].Duration, op.Duration)
			checkQuantiles(t, name+" self", &snap.Operations[i].Self, op.Self)
			checkQuantiles(t, name+" critical path", &snap.Operations[i].CriticalPath, op.CriticalPath)
		}
		if len(snap.Groups) != 2 || snap.Groups[0].Value != "A" || snap.Groups[1].Value != "B" || snap.GroupBy != "prompt.version" {
			t.Fatalf("groups %+v", snap.Groups)
		}
		for i, g := range res.Groups {
			checkQuantiles(t, "group "+g.Value, &snap.Groups[i].Requests.Latency, g.Requests.Summary)
		}
		if len(snap.Requests.Latency.Exemplars) != 5 || snap.Requests.Latency.Exemplars[0].TraceID != res.Requests.Exemplars[0] ||
			snap.Requests.Latency.Exemplars[0].Ns != res.Requests.Dist.MaxNs {
			t.Errorf("request exemplars %+v, want the slowest of %v (max %d)", snap.Requests.Latency.Exemplars, res.Requests.Exemplars, res.Requests.Dist.MaxNs)
		}
		if len(snap.StageRules) != len(analyze.DefaultStageRules().Rules) || snap.StageRules[0].Stage != "request entry" {
			t.Errorf("stage rules %+v", snap.StageRules[:1])
		}
		if snap.Window == nil || snap.Window.Start != res.WindowStart || len(snap.Inputs) != 1 || snap.Inputs[0].Name != "chat.jsonl" {
			t.Errorf("window %+v inputs %+v", snap.Window, snap.Inputs)
		}
	}
}

func checkQuantiles(t *testing.T, what string, d *snapshot.Dist, want analyze.Summary) {
	t.Helper()
	if d.Count != want.Count {
		t.Errorf("%s: count %d, want %d", what, d.Count, want.Count)
	}
	for i, p := range analyze.DefaultPercentiles {
		if got := d.QuantileMs(p); got != want.Quantiles[i] {
			t.Errorf("%s: p%g = %v ms, breakdown says %v", what, p, got, want.Quantiles[i])
		}
	}
}

// Merging the snapshots of two shards gives what one run over both gives:
// histograms, counts and sums are exact.
func TestMergeIsExact(t *testing.T) {
	a := snaptest.Traces(synth.Config{Requests: 200, Seed: 1})
	b := snaptest.Traces(synth.Config{Requests: 150, Seed: 2, Start: time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC), StageFactor: map[string]float64{synth.StageRetrieval: 1.3}})
	sa, err := snaptest.Snapshot("a.jsonl", a, "prompt.version")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := snaptest.Snapshot("b.jsonl", b, "prompt.version")
	if err != nil {
		t.Fatal(err)
	}
	both, err := snaptest.Snapshot("both.jsonl", append(append([]byte{}, a...), b...), "prompt.version")
	if err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.Merge(roundTrip(t, sa), roundTrip(t, sb))
	if err != nil {
		t.Fatal(err)
	}
	m = roundTrip(t, m)
	sameBreakdown(t, "all", m.Breakdown(), both.Breakdown())
	if len(m.Groups) != len(both.Groups) {
		t.Fatalf("%d groups, want %d", len(m.Groups), len(both.Groups))
	}
	for i := range m.Groups {
		sameBreakdown(t, "group "+m.Groups[i].Value, m.Groups[i].Breakdown(), both.Groups[i].Breakdown())
	}
	if m.Traces != 350 || m.Spans != both.Spans || len(m.Inputs) != 2 {
		t.Errorf("traces %d spans %d inputs %v", m.Traces, m.Spans, m.Inputs)
	}
	if !m.Window.Start.Equal(both.Window.Start) || !m.Window.End.Equal(both.Window.End) {
		t.Errorf("window %v, want %v", m.Window, both.Window)
	}
	if len(m.Notes) != 0 {
		t.Errorf("notes %q", m.Notes)
	}
	if ex, want := m.Requests.Latency.Exemplars, both.Requests.Latency.Exemplars; len(ex) != 5 || ex[0] != want[0] || ex[4] != want[4] {
		t.Errorf("exemplars %v, want %v", ex, want)
	}
}

func sameBreakdown(t *testing.T, what string, got, want *snapshot.Breakdown) {
	t.Helper()
	if !got.Requests.Latency.Equal(&want.Requests.Latency) || got.Requests.Errors != want.Requests.Errors {
		t.Errorf("%s: requests differ", what)
	}
	if len(got.Stages) != len(want.Stages) {
		t.Fatalf("%s: %d stages, want %d", what, len(got.Stages), len(want.Stages))
	}
	for i := range got.Stages {
		g, w := &got.Stages[i], &want.Stages[i]
		if g.Name != w.Name || g.Requests != w.Requests || !g.CriticalPath.Equal(&w.CriticalPath) || !g.Self.Equal(&w.Self) || !g.Duration.Equal(&w.Duration) {
			t.Errorf("%s: stage %d: %s (%d requests) differs from %s (%d)", what, i, g.Name, g.Requests, w.Name, w.Requests)
		}
	}
	if len(got.Operations) != len(want.Operations) {
		t.Fatalf("%s: %d operations, want %d", what, len(got.Operations), len(want.Operations))
	}
	for i := range got.Operations {
		g, w := &got.Operations[i], &want.Operations[i]
		if g.Name() != w.Name() || g.Count != w.Count || g.Errors != w.Errors || g.Requests != w.Requests ||
			!g.Duration.Equal(&w.Duration) || !g.Self.Equal(&w.Self) || !g.CriticalPath.Equal(&w.CriticalPath) {
			t.Errorf("%s: operation %d: %s differs from %s", what, i, g.Name(), w.Name())
		}
	}
}

// A stage only one shard has counts 0 in the other shard's requests.
func TestMergeFillsMissingStagesWithZeros(t *testing.T) {
	a := snaptest.MustSnapshot("a", synth.Config{Requests: 50, Seed: 3}, "")
	b := snaptest.MustSnapshot("b", synth.Config{Requests: 30, Seed: 4}, "")
	b.Stages = append(b.Stages, snapshot.Stage{Name: "only-in-b", Named: true, Requests: 30})
	for range 30 {
		b.Stages[len(b.Stages)-1].CriticalPath.Record(int64(5 * time.Millisecond))
	}
	m, err := snapshot.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range m.Stages {
		if st.CriticalPath.Count != 80 || st.Self.Count != 80 || st.Duration.Count != 80 {
			t.Errorf("stage %s: %d/%d/%d values, want 80 (one per request)", st.Name, st.CriticalPath.Count, st.Self.Count, st.Duration.Count)
		}
		if st.Name == "only-in-b" && (st.CriticalPath.QuantileMs(50) != 0 || st.CriticalPath.QuantileMs(99) != 5) {
			t.Errorf("only-in-b: p50 %v p99 %v, want 0 and 5 ms", st.CriticalPath.QuantileMs(50), st.CriticalPath.QuantileMs(99))
		}
	}
	for _, op := range m.Operations {
		if op.CriticalPath.Count != 80 {
			t.Errorf("operation %s: critical path has %d values, want 80", op.Name(), op.CriticalPath.Count)
		}
	}
}

func TestMergeNotes(t *testing.T) {
	a := snaptest.MustSnapshot("same.jsonl", synth.Config{Requests: 20, Seed: 3}, "prompt.version")
	b := snaptest.MustSnapshot("same.jsonl", synth.Config{Requests: 20, Seed: 3}, "")
	b.StageRules = b.StageRules[1:]
	m, err := snapshot.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(m.Notes, "\n")
	for _, want := range []string{"input same.jsonl is in more than one", "other stage rules", "grouped by different keys"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
	if m.Groups != nil || m.GroupBy != "" {
		t.Error("groups kept although the keys differ")
	}
}

// The v1 fixture was written by the first version of the schema. Every
// later binary must read it with these numbers: never regenerate it.
func TestReadV1Fixture(t *testing.T) {
	s, err := snapshot.ReadFile("testdata/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	checkV1(t, s)
}

// checkV1 holds the numbers of testdata/v1.json.
func checkV1(t *testing.T, s *snapshot.Snapshot) {
	t.Helper()
	if s.SchemaVersion != 1 || len(s.Notes) != 0 {
		t.Errorf("schema %d notes %q", s.SchemaVersion, s.Notes)
	}
	r := &s.Requests.Latency
	if r.Count != 120 || s.Requests.Errors != 4 {
		t.Errorf("requests %d errors %d", r.Count, s.Requests.Errors)
	}
	for p, want := range map[float64]float64{50: 988.671, 95: 2289.663, 99: 3055.615} {
		if got := r.QuantileMs(p); got != want {
			t.Errorf("request p%g = %v ms, want %v", p, got, want)
		}
	}
	var llm *snapshot.Stage
	for i := range s.Stages {
		if s.Stages[i].Name == "LLM invocation" {
			llm = &s.Stages[i]
		}
	}
	if llm == nil || llm.CriticalPath.Count != 120 || llm.CriticalPath.QuantileMs(95) != 2099.199 {
		t.Fatalf("LLM invocation stage: %+v", llm)
	}
	if len(s.Groups) != 2 || s.GroupBy != "prompt.version" || s.Groups[1].Value != "B" || s.Groups[1].Requests.Latency.Count != 55 {
		t.Errorf("groups: by %q, %d", s.GroupBy, len(s.Groups))
	}
	if len(s.Requests.Latency.Exemplars) != 5 || s.Requests.Latency.Exemplars[0].Ns != r.MaxNs {
		t.Errorf("exemplars %+v", s.Requests.Latency.Exemplars)
	}
	if s.Window == nil || s.Window.Start.Format(time.RFC3339) != "2026-11-20T14:00:00Z" || len(s.StageRules) == 0 {
		t.Errorf("window %+v, %d rules", s.Window, len(s.StageRules))
	}
}

// Readers ignore fields they do not know, wherever they are: later
// versions add fields, and older binaries read on.
func TestUnknownFieldsAreIgnored(t *testing.T) {
	data, err := os.ReadFile("testdata/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["added_in_v7"] = map[string]any{"anything": []any{1, "two"}}
	req := doc["requests"].(map[string]any)
	req["apdex"] = 0.93
	req["latency"].(map[string]any)["p999_hint"] = 1.5
	st := doc["stages"].([]any)[0].(map[string]any)
	st["queue_time"] = map[string]any{"count": 3}
	doc["schema_version"] = 7
	out, _ := json.Marshal(doc)
	// format must stay the first field for sniffing: rebuild it so.
	out = append([]byte(`{"format":"trace-forensics-snapshot",`), out[1:]...)
	s, err := snapshot.Read(bytes.NewReader(out), "v7.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "schema version 7, newer than this binary's 1") {
		t.Errorf("notes %q", s.Notes)
	}
	s.Notes = nil
	s.SchemaVersion = 1
	checkV1(t, s)
}

func TestReadErrorsSayWhere(t *testing.T) {
	data, err := os.ReadFile("testdata/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	swap := func(old, new string) string {
		t.Helper()
		if !strings.Contains(string(data), old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(string(data), old, new, 1)
	}
	cases := []struct{ name, doc, want string }{
		{"trace file", `{"resourceSpans":[]}`, `not a trace-forensics snapshot (no "format" field)`},
		{"other format", `{"format":"pprof"}`, `not a trace-forensics snapshot (format "pprof")`},
		{"no version", `{"format":"trace-forensics-snapshot"}`, "schema_version 0 is not a snapshot version"},
		{"syntax", `{"format":"trace-forensics-snapshot",`, "bad.json: "},
		{"type", `{"format":"trace-forensics-snapshot","schema_version":"1"}`, "schema_version"},
		{"count", swap(`"count": 120,`, `"count": 121,`), "requests.latency: hdr holds 120 values but count is 121"},
		{"hdr", swap(`"hdr": "HIST`, `"hdr": "!!!HIST`), "requests.latency: hdr: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := snapshot.Read(strings.NewReader(c.doc), "bad.json")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bad.json: ") {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

func TestIs(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"format":"trace-forensics-snapshot","schema_version":1}`: true,
		"\n {\n  \"format\" : \"trace-forensics-snapshot\"":        true,
		`{"resourceSpans":[]}`:                                     false,
		`{"schema_version":1,"format":"trace-forensics-snapshot"}`: false,
		`[{"format":"trace-forensics-snapshot"}]`:                  false,
	} {
		if got := snapshot.Is([]byte(doc)); got != want {
			t.Errorf("Is(%q) = %v", doc, got)
		}
	}
}

// Attribute values never reach a snapshot, except the values of the
// grouping key the user named.
func TestNoAttributeValues(t *testing.T) {
	s := snaptest.MustSnapshot("pii.jsonl", synth.Config{Requests: 40, Seed: 9}, "prompt.version")
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"@example.com", "Elm Street", "s-0", "billing"} {
		if strings.Contains(buf.String(), leak) {
			t.Errorf("snapshot contains %q", leak)
		}
	}
}
