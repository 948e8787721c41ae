package synth

import (
	"bytes"
	"os"
	"testing"
)

// The sample shipped in testdata/ is what the generator writes with the
// defaults of internal/synth/gen: regenerating it gives the same bytes.
func TestSampleRegenerates(t *testing.T) {
	want, err := os.ReadFile("../../testdata/sample/chat.otlp.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := WriteJSONL(&got, Config{Requests: 300, Seed: 1, LLMFactor: map[string]float64{"B": 1.15}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatal("testdata/sample/chat.otlp.jsonl is not what the generator writes; regenerate it with: go run ./internal/synth/gen -requests 300 -seed 1 -o testdata/sample/chat.otlp.jsonl")
	}
}
