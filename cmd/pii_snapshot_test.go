package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCanariesSnapshotCompareGate: snapshots, comparisons and gate
// reports, JUnit files and GitHub annotations show no planted data either.
func TestCanariesSnapshotCompareGate(t *testing.T) {
	src := canaryTraces(t, 200)
	dir := t.TempDir()
	snap := filepath.Join(dir, "canary-snapshot.json")
	if _, errOut, code := run(t, "", "snapshot", "-q", "--group-by", "user.email", "-o", snap, src); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errOut)
	}
	data, _ := os.ReadFile(snap)
	assertNoCanary(t, "snapshot", string(data))
	if !strings.Contains(string(data), "[email]") {
		t.Error("the snapshot's user.email group is not [email]")
	}
	for _, f := range []string{"table", "json", "markdown"} {
		out, errOut, _ := run(t, "", "compare", "-f", f, snap, src)
		assertNoCanary(t, "compare -f "+f, out+errOut)
		out, errOut, _ = run(t, "", "gate", "-f", f, "--baseline", snap, "--junit", filepath.Join(dir, "junit-"+f+".xml"), src)
		assertNoCanary(t, "gate -f "+f, out+errOut)
	}
	// GitHub annotations and the step summary.
	summary := filepath.Join(dir, "step-summary.md")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	var out, errb bytes.Buffer
	Main([]string{"gate", "--baseline", snap, src}, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	assertNoCanary(t, "gate annotations", out.String()+errb.String())
	assertNoCanaryFiles(t, dir)
	// The report from the snapshot.
	md, errOut, code := run(t, "", "report", "-q", snap)
	if code != 0 {
		t.Fatalf("report from the snapshot: exit %d: %s", code, errOut)
	}
	assertNoCanary(t, "report from a snapshot", md)
}
