package live

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaverWritesOneLinePerAnswer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "pull")
	s, err := newSaver(dir, "jaeger-api_v3", PullManifest{Source: "jaeger http://h:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.write([]byte("{\n  \"result\": {\"resourceSpans\": []}\n}\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.write([]byte(`{"data":[]}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.write([]byte(`{"data":`)); err == nil {
		t.Error("invalid JSON saved")
	}
	if err := s.close(nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "jaeger-api_v3.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "{\"result\":{\"resourceSpans\":[]}}\n{\"data\":[]}\n" {
		t.Errorf("saved %q", got)
	}
	m, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil || !strings.Contains(string(m), `"answers": 2`) || !strings.Contains(string(m), `"jaeger-api_v3.jsonl"`) {
		t.Errorf("manifest %s %v", m, err)
	}
	if _, err := newSaver(dir, "x", PullManifest{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty dir: %v", err)
	}
}

// A pull that fails before saving anything leaves no directory behind.
func TestSaverFailedPullCleansUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pull")
	s, err := newSaver(dir, "x", PullManifest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.close(errors.New("connection refused")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory left behind: %v", err)
	}
	// With data: the manifest says the pull is incomplete.
	s, _ = newSaver(dir, "x", PullManifest{})
	s.write([]byte(`{"data":[]}`))
	s.close(errors.New("timeout"))
	m, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	if !strings.Contains(string(m), `"incomplete": "timeout"`) {
		t.Errorf("manifest %s", m)
	}
}
