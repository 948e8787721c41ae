package cmd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/internal/snaptest"
	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// Snapshots the compare and gate tests read, made once from generated
// traffic so that their golden files do not move with the analysis:
//
//	TF_MAKE_FIXTURES=1 go test ./cmd -run TestMakeRegressFixtures
//
// base and same are two samples of the same traffic; slow has the LLM
// stage 30 % slower.
func TestMakeRegressFixtures(t *testing.T) {
	if os.Getenv("TF_MAKE_FIXTURES") == "" {
		t.Skip("set TF_MAKE_FIXTURES=1 to rewrite testdata/regress/")
	}
	day := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	for name, cfg := range map[string]synth.Config{
		"base": {Requests: 250, Seed: 21, Start: day},
		"same": {Requests: 250, Seed: 22, Start: day.Add(24 * time.Hour)},
		"slow": {Requests: 250, Seed: 23, Start: day.Add(24 * time.Hour), StageFactor: map[string]float64{synth.StageLLM: 1.3}},
	} {
		s := snaptest.MustSnapshot(name+".otlp.jsonl", cfg, "")
		s.Tool = "trace-forensics devel"
		f, err := os.Create(filepath.Join("testdata", "regress", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}
