package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/snapshot"
)

// Snapshots of generated traffic (see TestMakeRegressFixtures): base and
// same are samples of the same traffic, slow has the LLM stage 30 % slower.
const (
	regBase = "testdata/regress/base.json"
	regSame = "testdata/regress/same.json"
	regSlow = "testdata/regress/slow.json"
)

// runEnv is run with environment variables for the command.
func runEnv(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	return out.String(), errb.String(), code
}

func TestSnapshotCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "base.json")
	_, errOut, code := run(t, "", "snapshot", "--group-by", "prompt.version", sample, "-o", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "wrote "+path+": 300 requests, ") || !strings.Contains(errOut, "2 groups by prompt.version") {
		t.Errorf("stderr %q", errOut)
	}
	s, err := snapshot.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot's numbers are the breakdown's.
	out, _, _ := run(t, "", "breakdown", "-q", "-f", "json", sample)
	var bd struct {
		Requests struct {
			DurationMs map[string]float64 `json:"duration_ms"`
		} `json:"requests"`
	}
	if err := json.Unmarshal([]byte(out), &bd); err != nil {
		t.Fatal(err)
	}
	for p, key := range map[float64]string{50: "p50", 95: "p95", 99: "p99"} {
		if got, want := s.Requests.Latency.QuantileMs(p), bd.Requests.DurationMs[key]; got != want {
			t.Errorf("%s: snapshot %v, breakdown %v", key, got, want)
		}
	}
	if s.GroupBy != "prompt.version" || s.Group("A") == nil || s.Group("B") == nil || s.Inputs[0].Name != sample {
		t.Errorf("groups %q %v, inputs %v", s.GroupBy, s.Groups, s.Inputs)
	}
	// Without -o the snapshot goes to stdout.
	out, _, code = run(t, "", "snapshot", "-q", sample)
	if code != 0 || !snapshot.Is([]byte(out)) {
		t.Errorf("exit %d, stdout starts %q", code, out[:min(len(out), 80)])
	}
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "all.json")
	_, errOut, code := run(t, "", "merge", regBase, regSame, "-o", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "merged 2 snapshots: 500 requests") {
		t.Errorf("stderr %q", errOut)
	}
	m, err := snapshot.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := snapshot.ReadFile(regBase)
	b, _ := snapshot.ReadFile(regSame)
	if m.Requests.Latency.Count != 500 || m.Requests.Latency.SumNs != a.Requests.Latency.SumNs+b.Requests.Latency.SumNs ||
		m.Requests.Latency.MaxNs != max(a.Requests.Latency.MaxNs, b.Requests.Latency.MaxNs) || len(m.Inputs) != 2 {
		t.Errorf("merged requests %+v", m.Requests.Latency)
	}
	// Merging a snapshot with itself is allowed, and noted.
	_, errOut, code = run(t, "", "merge", "-o", path, regBase, regBase)
	if code != 0 || !strings.Contains(errOut, "warning: input base.otlp.jsonl is in more than one merged snapshot") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"merge", regBase, sample}, ExitError, "chat.otlp.jsonl is not a snapshot (make one with 'trace-forensics snapshot"},
		{[]string{"merge", regBase, filepath.Join(dir, "nope.json")}, ExitError, "nope.json: no such file"},
		{[]string{"merge"}, ExitUsage, "requires at least 1 arg"},
	} {
		_, errOut, code := run(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}

func TestCompareGolden(t *testing.T) {
	for _, format := range []string{"table", "json", "markdown"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, "", "compare", "-f", format, regBase, regSlow)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "compare."+format+".golden", out)
		})
	}
	t.Run("split", func(t *testing.T) {
		out, errOut, code := run(t, "", "compare", "-q", "--split", "prompt.version=A,B", sample)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		golden(t, "compare.split.table.golden", out)
	})
}

// The JSON is a contract: exactly these keys, in every row.
func TestCompareJSONContract(t *testing.T) {
	out, errOut, code := run(t, "", "compare", "-f", "json", "--percentiles", "50,99.9", regBase, regSlow)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(mapKeys(doc)); !reflect.DeepEqual(got, []string{"rows", "schema_version", "warnings"}) {
		t.Errorf("top-level keys %v", got)
	}
	var rows []map[string]any
	if err := json.Unmarshal(doc["rows"], &rows); err != nil {
		t.Fatal(err)
	}
	want := []string{"base_ms", "base_n", "delta_pct", "name", "new_ms", "new_n", "p_value", "quantile", "scope", "significant"}
	scopes := map[string]bool{}
	for _, r := range rows {
		if got := slices.Sorted(mapKeys(r)); !reflect.DeepEqual(got, want) {
			t.Fatalf("row keys %v, want %v", got, want)
		}
		scopes[r["scope"].(string)] = true
		if q := r["quantile"]; q != "p50" && q != "p99.9" {
			t.Errorf("quantile %v", q)
		}
	}
	first := rows[0]
	if first["scope"] != "request" || first["name"] != "request" || first["base_n"] != 250.0 || first["significant"] != true {
		t.Errorf("first row %v", first)
	}
	if !scopes["request"] || !scopes["stage"] || !scopes["operation"] {
		t.Errorf("scopes %v", scopes)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestCompareErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"compare", regBase}, ExitUsage, "compare takes BASELINE and CANDIDATE"},
		{[]string{"compare", "--alpha", "1.5", regBase, regSlow}, ExitUsage, "--alpha: 1.5 is not between 0 and 1"},
		{[]string{"compare", "-f", "csv", regBase, regSlow}, ExitUsage, `--format: "csv" is not one of table, json, markdown`},
		{[]string{"compare", "--split", "prompt.version=A", sample}, ExitUsage, `--split: "prompt.version=A" is not KEY=A,B`},
		{[]string{"compare", "--split", "prompt.version=A,B", regBase, regSlow}, ExitUsage, "give exactly one"},
		{[]string{"compare", "--split", "prompt.version=A,C", sample}, ExitError, `no request has prompt.version=C (values: "A", "B")`},
		{[]string{"compare", "--split", "prompt.version=A,B", regBase}, ExitError, "the snapshot is not grouped (make it with --group-by prompt.version)"},
		{[]string{"compare", regBase, "testdata/regress/nope.json"}, ExitError, "reading candidate testdata/regress/nope.json"},
		{[]string{"compare", "-", "-"}, ExitUsage, "only one of BASELINE and CANDIDATE can be stdin"},
	} {
		_, errOut, code := run(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	_, errOut, _ := run(t, "", "compare", "--stages", "x.yaml", regBase, regSlow)
	if !strings.Contains(errOut, "warning: --stages applies to trace sources, not to the snapshot "+regBase) {
		t.Errorf("stderr %q", errOut)
	}
}

// Traces and snapshots are interchangeable sides: a snapshot of the sample
// compares with the sample itself as nothing changed.
func TestCompareSnapshotWithTraces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	if _, errOut, code := run(t, "", "snapshot", "-q", sample, "-o", path); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := run(t, "", "compare", "-q", "-f", "json", path, sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Rows []struct {
			DeltaPct    *float64 `json:"delta_pct"`
			PValue      *float64 `json:"p_value"`
			Significant bool     `json:"significant"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for i, r := range doc.Rows {
		if r.Significant || r.PValue == nil || *r.PValue != 1 || r.DeltaPct != nil && *r.DeltaPct != 0 {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
}

func TestGateGolden(t *testing.T) {
	for _, format := range []string{"table", "json", "markdown"} {
		t.Run("fail."+format, func(t *testing.T) {
			out, errOut, code := run(t, "", "gate", "-f", format, "--baseline", regBase, regSlow)
			if code != ExitGate {
				t.Fatalf("exit %d, want %d: %s", code, ExitGate, errOut)
			}
			if !strings.Contains(errOut, "trace-forensics: latency gate failed: 3 of 3 rules") {
				t.Errorf("stderr %q", errOut)
			}
			golden(t, "gate.fail."+format+".golden", out)
		})
	}
	rules := writeFile(t, "gate.yaml", `alpha: 0.05
rules:
  - min_requests >= 200
  - p99(stage="LLM invocation") < 5s
  - share_of_request(p99, stage="retrieval*") < 0.3
  - p95(request) regression < 10%
  - rule: p99(request) regression < 10%
    severity: warning
`)
	t.Run("pass.table", func(t *testing.T) {
		out, errOut, code := run(t, "", "gate", "--baseline", regBase, "--rules", rules, regSame)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		golden(t, "gate.pass.table.golden", out)
	})
	t.Run("junit", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gate.xml")
		_, errOut, code := run(t, "", "gate", "--baseline", regBase, "--rules", rules, "--junit", path, regSlow)
		if code != ExitGate {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "gate.junit.golden", string(data))
	})
	t.Run("init", func(t *testing.T) {
		out, errOut, code := run(t, "", "gate", "--init", regBase)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		golden(t, "gate.init.golden", out)
	})
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Under GitHub Actions the gate annotates failures and appends its
// Markdown to the job summary; the full report still comes first.
func TestGateGitHubActions(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	if err := os.WriteFile(summary, []byte("# earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	out, errOut, code := runEnv(t, env, "gate", "--baseline", regBase, regSlow)
	if code != ExitGate {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	i := strings.Index(out, "::error ")
	if i < 0 {
		t.Fatalf("no ::error annotation in\n%s", out)
	}
	golden(t, "gate.github.golden", out[i:])
	if v := strings.Index(out, "FAIL: 3 of 3 rules failed"); v < 0 || v > i || strings.Index(out, "Requests and stages") > v {
		t.Error("the comparison, then the verdict, then the annotations: not in this order")
	}
	md, _, _ := run(t, "", "gate", "-f", "markdown", "--baseline", regBase, regSlow)
	data, _ := os.ReadFile(summary)
	if string(data) != "# earlier step\n"+md {
		t.Errorf("step summary is not the earlier content followed by the Markdown report:\n%s", data)
	}
	// With --format json the annotations go to stderr, so stdout parses.
	out, errOut, _ = runEnv(t, env, "gate", "-f", "json", "--baseline", regBase, regSlow)
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil || !strings.Contains(errOut, "::error title=Latency gate%3A p95(request) regression < 10%25::") {
		t.Errorf("json %v; stderr %q", err, errOut)
	}
	// Outside Actions, nothing of the kind.
	out, _, _ = run(t, "", "gate", "--baseline", regBase, regSlow)
	if strings.Contains(out, "::error") {
		t.Error("annotations outside GitHub Actions")
	}
}

func TestGateExitCodes(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "rules:\n  - p95(request) < soon\n")
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"pass", []string{"gate", "--baseline", regBase, regSame}, ExitOK, ""},
		{"fail", []string{"gate", "--baseline", regBase, regSlow}, ExitGate, "latency gate failed"},
		{"absolute rules need no baseline", []string{"gate", "--rules", writeFile(t, "abs.yaml", "- p95(request) < 1h\n- min_requests >= 10\n"), regSlow}, ExitOK, ""},
		{"no baseline", []string{"gate", regSlow}, ExitUsage, "--baseline is missing: the default rules compare with a baseline"},
		{"no candidate", []string{"gate", "--baseline", regBase}, ExitUsage, "gate takes one CANDIDATE, not 0 arguments"},
		{"bad rules", []string{"gate", "--baseline", regBase, "--rules", bad, regSlow}, ExitUsage, `bad.yaml:2: rule "p95(request) < soon": "soon" is not a duration`},
		{"missing rules", []string{"gate", "--baseline", regBase, "--rules", "nope.yaml", regSlow}, ExitError, "--rules: open nope.yaml"},
		{"bad alpha", []string{"gate", "--alpha", "0", "--baseline", regBase, regSlow}, ExitUsage, "--alpha"},
		{"missing baseline", []string{"gate", "--baseline", "nope.json", regSlow}, ExitError, "reading baseline nope.json"},
		{"init with candidate", []string{"gate", "--init", regBase, regSlow}, ExitUsage, "--init BASELINE writes rules and takes no CANDIDATE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := run(t, "", c.args...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, c.code, c.msg)
			}
		})
	}
}

// gate --init writes rules the baseline passes against a sample of the
// same traffic, and that catch the slow one.
func TestGateInitRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.yaml")
	if _, errOut, code := run(t, "", "gate", "--init", regBase, "-o", path); code != 0 || !strings.Contains(errOut, "wrote "+path) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, "", "gate", "--baseline", regBase, "--rules", path, regSame); code != 0 {
		t.Errorf("same traffic: exit %d: %s", code, errOut)
	}
	if _, _, code := run(t, "", "gate", "--baseline", regBase, "--rules", path, regSlow); code != ExitGate {
		t.Errorf("slow traffic: exit %d", code)
	}
}

// Compare and gate print attribute values only for the key the user split
// on; planted personal data never shows.
func TestRegressCanaries(t *testing.T) {
	src := canaryTraces(t, 200)
	dir := t.TempDir()
	snap := filepath.Join(dir, "canary.json")
	if _, errOut, code := run(t, "", "snapshot", "--group-by", "prompt.version", src, "-o", snap); code != 0 {
		t.Fatalf("snapshot: %s", errOut)
	}
	data, _ := os.ReadFile(snap)
	assertNoCanary(t, "snapshot", string(data))
	for _, args := range [][]string{
		{"compare", snap, src},
		{"compare", "-f", "json", src, snap},
		{"compare", "-f", "markdown", "--split", "prompt.version=A,B", src},
		{"compare", "--split", "prompt.version=A,B", snap},
		{"gate", "--baseline", snap, src},
		{"gate", "-f", "json", "--baseline", src, snap},
		{"gate", "--init", src},
	} {
		stdout, stderr, code := run(t, "", args...)
		if code != 0 && code != ExitGate {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		assertNoCanary(t, strings.Join(args, " "), stdout+stderr)
	}
}

// breakdown --snapshot writes what `snapshot` writes, beside its report.
func TestBreakdownSnapshotFlag(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	out, errOut, code := run(t, "", "breakdown", "-q", "--snapshot", a, "--group-by", "prompt.version", sample)
	if code != 0 || !strings.Contains(out, "requests") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, "", "snapshot", "-q", "--group-by", "prompt.version", sample, "-o", b); code != 0 {
		t.Fatal(errOut)
	}
	sa, err := snapshot.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := snapshot.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sa.Requests.Latency.Equal(&sb.Requests.Latency) || len(sa.Stages) != len(sb.Stages) || len(sa.Groups) != 2 {
		t.Error("breakdown --snapshot and snapshot differ")
	}
	_, errOut, code = run(t, "", "breakdown", "-q", "--snapshot", filepath.Join(dir, "no", "such", "dir.json"), sample)
	if code != ExitError || !strings.Contains(errOut, "--snapshot: writing ") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// Annotations of rules from a file point at the rule's line.
func TestGateAnnotationsPointAtRules(t *testing.T) {
	rules := writeFile(t, "gate.yaml", "rules:\n  - min_requests >= 1\n  - p95(request) regression < 10%\n")
	out, _, code := runEnv(t, map[string]string{"GITHUB_ACTIONS": "true"}, "gate", "--baseline", regBase, "--rules", rules, regSlow)
	want := "::error file=" + strings.ReplaceAll(rules, ":", "%3A") + ",line=3,title=Latency gate%3A p95(request) regression < 10%25::request: p95 1.76s → 2.68s"
	if code != ExitGate || !strings.Contains(out, want) {
		t.Errorf("exit %d, want a line starting %q in\n%s", code, want, out[strings.Index(out, "FAIL:"):])
	}
}
