package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// slowerTraces writes chat traces whose LLM calls are half again as slow.
func slowerTraces(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: 400, Seed: 5, StageFactor: map[string]float64{synth.StageLLM: 1.5}}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "slower.jsonl")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "base.json")
	if _, errOut, code := run(t, "", "snapshot", "-q", "-o", snap, sample); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errOut)
	}
	fromTraces, _, _ := run(t, "", "report", "-q", sample)
	fromSnap, errOut, code := run(t, "", "report", "-q", snap)
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	// The summary's figures are the same.
	head := func(s string) string { return s[:strings.Index(s, "## Requests")] }
	summarySnap := head(fromSnap)
	summaryTraces := head(fromTraces)
	for _, line := range strings.Split(summarySnap, "\n") {
		if strings.HasPrefix(line, "- **") && !strings.Contains(summaryTraces, line) {
			t.Errorf("from the snapshot %q, not in the report from traces", line)
		}
	}
	if !strings.Contains(fromSnap, "Made from a snapshot") || strings.Contains(fromSnap, "## Tail anatomy") {
		t.Error("the snapshot report does not say what it lacks")
	}
	// Snapshots and traces do not mix.
	if _, errOut, code := run(t, "", "report", snap, sample); code != ExitUsage || !strings.Contains(errOut, "not both") {
		t.Errorf("mixed sources: exit %d %s", code, errOut)
	}
}

func TestReportBaselineAndGate(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "base.json")
	if _, errOut, code := run(t, "", "snapshot", "-q", "-o", snap, sample); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errOut)
	}
	slower := slowerTraces(t)
	out := filepath.Join(dir, "r.html")
	// A failed gate is in the report; the report itself succeeds.
	_, errOut, code := run(t, "", "report", "-q", "-o", out, "--baseline", snap, "--gate", "default", slower)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	page, _ := os.ReadFile(out)
	for _, want := range []string{"The latency gate failed", `<p class="verdict fail">`, "p95(request) regression", "end to end"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	md, _, code := run(t, "", "report", "-q", "--baseline", sample, slower)
	if code != 0 || !strings.Contains(md, "## Compared with ../testdata/sample/chat.otlp.jsonl") || !strings.Contains(md, "Against ../testdata/sample/chat.otlp.jsonl, end-to-end p95 went") {
		t.Errorf("baseline from traces: exit %d\n%.1500s", code, md)
	}
	if _, errOut, code := run(t, "", "report", "--gate", "default", sample); code != ExitUsage || !strings.Contains(errOut, "give --baseline") {
		t.Errorf("gate without baseline: exit %d %s", code, errOut)
	}
	if _, errOut, code := run(t, "", "report", "--gate", filepath.Join(dir, "nope.yaml"), "--baseline", snap, sample); code != ExitError || !strings.Contains(errOut, "--gate") {
		t.Errorf("missing rules: exit %d %s", code, errOut)
	}
}
