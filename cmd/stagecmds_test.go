package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// generated writes synth traffic (with PII in attributes) to a file.
func generated(t *testing.T, cfg synth.Config) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "traffic.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBreakdownDefaultViewIsStages(t *testing.T) {
	out, errOut, code := run(t, "", "breakdown", sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Where the time went: stages on the critical path", "LLM invocation", "Tail anatomy", "p99+", "Untraced:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, "Operations, sorted by share of total self time") {
		t.Error("the default view shows the operations table")
	}
	out, _, code = run(t, "", "breakdown", "--by", "operation", sample)
	if code != 0 || !strings.Contains(out, "Operations, sorted by share of total self time") || strings.Contains(out, "Tail anatomy") {
		t.Errorf("--by operation: exit %d\n%s", code, out)
	}
	_, errOut, code = run(t, "", "breakdown", "--by", "span", sample)
	if code != ExitUsage || !strings.Contains(errOut, "--by") {
		t.Errorf("--by span: exit %d %s", code, errOut)
	}
}

type stageDoc struct {
	Stage          string             `json:"stage"`
	Requests       int64              `json:"requests"`
	CriticalPathMs map[string]float64 `json:"critical_path_ms"`
	SelfMs         map[string]float64 `json:"self_ms"`
	DurationMs     map[string]float64 `json:"duration_ms"`
	Share          float64            `json:"share"`
	ShareOfRequest map[string]float64 `json:"share_of_request"`
	Count          map[string]float64 `json:"count_per_request"`
	Exemplars      []string           `json:"exemplars"`
}

type opDoc struct {
	Service, Operation string
	CriticalPathMs     map[string]float64 `json:"critical_path_ms"`
	CriticalPathShare  float64            `json:"critical_path_share"`
	Stage              string             `json:"stage"`
}

type breakdownDoc struct {
	Requests struct {
		Count int64 `json:"count"`
	} `json:"requests"`
	Operations []opDoc    `json:"operations"`
	Stages     []stageDoc `json:"stages"`
	Bands      []struct {
		Band     string `json:"band"`
		Requests struct{ Count int64 }
		Stages   []stageDoc `json:"stages"`
	} `json:"bands"`
	GroupBy string `json:"group_by"`
	Groups  []struct {
		Key      string  `json:"key"`
		Value    *string `json:"value"`
		Requests struct {
			Count int64 `json:"count"`
		} `json:"requests"`
		Stages     []stageDoc `json:"stages"`
		Operations []opDoc    `json:"operations"`
	} `json:"groups"`
	UntracedShare float64 `json:"untraced_share"`
}

func breakdownJSON(t *testing.T, args ...string) (breakdownDoc, string) {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"breakdown", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc breakdownDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc, out
}

func TestBreakdownStagesJSON(t *testing.T) {
	doc, _ := breakdownJSON(t, "--percentiles", "50,99.9", sample)
	if len(doc.Stages) != 9 {
		t.Fatalf("%d stages", len(doc.Stages))
	}
	sum := 0.0
	for _, s := range doc.Stages {
		sum += s.Share
		for _, m := range []map[string]float64{s.CriticalPathMs, s.SelfMs, s.DurationMs} {
			if _, ok := m["p99.9"]; !ok || len(m) != 4 {
				t.Errorf("%s: summary %v does not follow --percentiles", s.Stage, m)
			}
		}
		if len(s.ShareOfRequest) != 2 || s.Count["mean"] == 0 {
			t.Errorf("%s: share_of_request %v, count %v", s.Stage, s.ShareOfRequest, s.Count)
		}
	}
	if sum < 0.9999 || sum > 1.0001 {
		t.Errorf("stage shares sum to %v", sum)
	}
	if len(doc.Bands) != 4 || doc.Bands[3].Band != "p99+" || len(doc.Bands[3].Stages) != 9 {
		t.Errorf("bands %+v", doc.Bands)
	}
	for _, o := range doc.Operations {
		if o.Stage == "" || o.CriticalPathMs == nil {
			t.Errorf("operation %s %s without stage or critical path", o.Service, o.Operation)
		}
	}
	if len(doc.Groups) != 0 || doc.GroupBy != "" {
		t.Errorf("groups without --group-by: %v", doc.Groups)
	}
}

// --group-by: groups with the top-level shapes, and no attribute value but
// the grouping key's anywhere in any output.
func TestBreakdownGroupByShowsOnlyTheKey(t *testing.T) {
	path := generated(t, synth.Config{Requests: 120, Seed: 4, LLMFactor: map[string]float64{"B": 1.5}})
	doc, out := breakdownJSON(t, "--group-by", "prompt.version", path)
	if doc.GroupBy != "prompt.version" || len(doc.Groups) != 2 {
		t.Fatalf("group_by %q, %d groups", doc.GroupBy, len(doc.Groups))
	}
	var n int64
	for _, g := range doc.Groups {
		if g.Key != "prompt.version" || g.Value == nil || len(g.Stages) != len(doc.Stages) || len(g.Operations) == 0 {
			t.Errorf("group %+v", g)
		}
		n += g.Requests.Count
	}
	if n != doc.Requests.Count {
		t.Errorf("groups hold %d of %d requests", n, doc.Requests.Count)
	}
	for _, format := range []string{"table", "markdown", "csv"} {
		o, _, code := run(t, "", "breakdown", "--format", format, "--group-by", "prompt.version", path)
		if code != 0 || !strings.Contains(o, "prompt.version") {
			t.Errorf("%s: exit %d", format, code)
		}
		out += o
	}
	for _, pii := range []string{"@example.com", "Where is my order", "s-0", "billing", "postgresql", "kafka", "1.4.2", "openai"} {
		if strings.Contains(out, pii) {
			t.Errorf("an attribute value (%q) leaked into the output", pii)
		}
	}
	_, errOut, code := run(t, "", "breakdown", "--group-by", "session.id", path)
	if code != ExitError || !strings.Contains(errOut, "distinct values") {
		t.Errorf("high-cardinality key: exit %d %s", code, errOut)
	}
}

func TestBreakdownMaxClockSkewFlag(t *testing.T) {
	_, errOut, code := run(t, "", "breakdown", "--max-clock-skew", "-1s", sample)
	if code != ExitUsage || !strings.Contains(errOut, "--max-clock-skew") {
		t.Errorf("exit %d %s", code, errOut)
	}
	for _, v := range []string{"0", "250ms"} {
		if _, errOut, code := run(t, "", "breakdown", "-q", "--max-clock-skew", v, sample); code != 0 {
			t.Errorf("--max-clock-skew %s: exit %d %s", v, code, errOut)
		}
	}
}

func TestCoverageCommand(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rules, []byte("rules:\n  - stage: tool calls\n    attributes: {gen_ai.operation.name: execute_tool}\n"), 0o644)
	out, errOut, code := run(t, "", "coverage", "--format", "json", "--stages", rules, sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		UntracedShare float64 `json:"untraced_share"`
		Untraced      []struct {
			Scope, Service, Operation, Stage string
			Share                            float64
			LargestGap                       *struct{ After, Before string } `json:"largest_gap"`
		} `json:"untraced"`
		MissingStages []struct{ Stage string } `json:"missing_stages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.UntracedShare <= 0 || len(doc.Untraced) == 0 {
		t.Fatalf("untraced %v %v", doc.UntracedShare, doc.Untraced)
	}
	first := doc.Untraced[0]
	if first.Scope != "operation" || first.Service != "chat-gateway" || first.Operation != "POST /v1/chat" || first.LargestGap == nil {
		t.Errorf("largest untraced: %+v", first)
	}
	scopes := map[string]bool{}
	for _, u := range doc.Untraced {
		scopes[u.Scope] = true
	}
	if !scopes["stage"] {
		t.Error("no stage rows")
	}
	if len(doc.MissingStages) != 1 || doc.MissingStages[0].Stage != "tool calls" {
		t.Errorf("missing stages %v", doc.MissingStages)
	}
	for _, format := range []string{"table", "markdown"} {
		out, _, code := run(t, "", "coverage", "--format", format, "--stages", rules, sample)
		if code != 0 || !strings.Contains(out, "Untraced time") || !strings.Contains(out, "tool calls") {
			t.Errorf("%s: exit %d\n%s", format, code, out)
		}
	}
}

func TestExplainCommand(t *testing.T) {
	const id = "cd7e27c3d5db082415a887eb30224df0" // the sample's slowest request
	out, errOut, code := run(t, "", "explain", "--width", "140", id, sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"trace " + id, "chat-gateway POST /v1/chat", "█", "(async)", "Stages of this request", "LLM invocation"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, "|") && len([]rune(line)) > 140 {
			t.Errorf("waterfall line wider than --width: %d", len([]rune(line)))
		}
	}
	out, _, code = run(t, "", "explain", "--format", "json", id, sample)
	var doc struct {
		TraceID    string  `json:"trace_id"`
		DurationMs float64 `json:"duration_ms"`
		Spans      []struct {
			Depth          int
			CriticalPathMs float64      `json:"critical_path_ms"`
			CriticalPath   [][2]float64 `json:"critical_path"`
		} `json:"spans"`
		Stages []struct{ Stage string } `json:"stages"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	total := 0.0
	for _, s := range doc.Spans {
		total += s.CriticalPathMs
	}
	if doc.TraceID != id || len(doc.Spans) != 23 || total < doc.DurationMs-0.01 || total > doc.DurationMs+0.01 {
		t.Errorf("trace %s: %d spans, critical path %v of %v ms", doc.TraceID, len(doc.Spans), total, doc.DurationMs)
	}
	if out, _, code := run(t, "", "explain", "--format", "markdown", id, sample); code != 0 || !strings.Contains(out, "```") {
		t.Errorf("markdown: exit %d", code)
	}
	// A short hex ID is left-padded; an absent one is an error that says so.
	_, errOut, code = run(t, "", "explain", "abc", sample)
	if code != ExitError || !strings.Contains(errOut, "trace abc is not in the input") {
		t.Errorf("absent trace: exit %d %s", code, errOut)
	}
	_, _, code = run(t, "", "explain", id)
	if code != ExitUsage {
		t.Errorf("no source: exit %d", code)
	}
}

// Jaeger files with non-hex IDs (CRISP's "A") are explained by that ID.
func TestExplainOpaqueJaegerID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.json")
	os.WriteFile(path, []byte(`{"data":[{"traceID":"A","processes":{"p":{"serviceName":"S1"}},"spans":[
		{"traceID":"A","spanID":"A","operationName":"O1","references":[],"startTime":0,"duration":100,"processID":"p"},
		{"traceID":"A","spanID":"B","operationName":"O2","references":[{"refType":"CHILD_OF","traceID":"A","spanID":"A"}],"startTime":10,"duration":50,"processID":"p"}]}]}`), 0o644)
	out, errOut, code := run(t, "", "explain", "--format", "json", "A", path)
	if code != 0 || !strings.Contains(out, `"trace_id": "A"`) || !strings.Contains(out, `"critical_path_ms": 0.05`) {
		t.Errorf("exit %d %s\n%s", code, errOut, out)
	}
}
