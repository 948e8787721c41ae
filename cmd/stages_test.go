package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStagesWithoutSourceListsRules(t *testing.T) {
	out, errOut, code := run(t, "", "stages")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"1. request entry  <-  the request's root span", "LLM invocation", "[built-in:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "caught nothing") || strings.Contains(out, " spans\n") {
		t.Errorf("rules without a source show counts:\n%s", out)
	}
}

func TestStagesDefaultsRoundTrip(t *testing.T) {
	out, _, code := run(t, "", "stages", "--defaults")
	if code != 0 {
		t.Fatal(code)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(out+"mode: replace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, errOut, code := run(t, "", "stages", "--stages", path, sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, _, _ := run(t, "", "stages", sample)
	if strings.ReplaceAll(got, path, "built-in") != want {
		t.Errorf("the printed defaults, replacing the built-in rules, catch differently:\n%s", diff(want, got))
	}
}

func TestStagesOverSample(t *testing.T) {
	out, errOut, code := run(t, "", "stages", "--format", "json", sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Rules []struct {
			Stage   string `json:"stage"`
			Matched []struct {
				Service, Operation string
				Spans              int64
			} `json:"matched"`
			Inherited []struct{ Operation string } `json:"inherited"`
		} `json:"rules"`
		Unmatched     []any `json:"unmatched"`
		MissingStages []any `json:"missing_stages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	caught := map[string]string{}
	for _, r := range doc.Rules {
		for _, m := range r.Matched {
			caught[m.Service+" "+m.Operation] = r.Stage
		}
		for _, m := range r.Inherited {
			caught[m.Operation] = r.Stage
		}
	}
	for op, stage := range map[string]string{
		"chat-gateway POST /v1/chat": "request entry", "llm-gateway chat gpt-4o": "LLM invocation",
		"retrieval qdrant search": "retrieval and reranking", "session-store redis GET": "session load",
		"chat-gateway INSERT messages": "persistence", "GET /profile": "service fan-out",
	} {
		if caught[op] != stage {
			t.Errorf("%s caught as %q, want %q", op, caught[op], stage)
		}
	}
	if len(doc.Unmatched) != 0 || len(doc.MissingStages) != 0 {
		t.Errorf("unmatched %v, missing %v", doc.Unmatched, doc.MissingStages)
	}
}

func TestStagesBadRulesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte("rules:\n  - stage: x\n    nmae: y\n"), 0o644)
	_, errOut, code := run(t, "", "stages", "--stages", path)
	if code != ExitUsage || !strings.Contains(errOut, `rules.yaml:3: unknown rule key "nmae"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
