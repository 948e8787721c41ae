package synth

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// TestWriteZipkin checks that the document is valid JSON of Zipkin's shape,
// holds the spans WriteJSONL writes, and that shared mode reuses the client
// IDs of server spans.
func TestWriteZipkin(t *testing.T) {
	cfg := Config{Requests: 20, Seed: 3, ErrorRate: 0.3}
	nl, err := WriteJSONL(io.Discard, cfg)
	if err != nil {
		t.Fatal(err)
	}
	type span struct {
		TraceID  string            `json:"traceId"`
		ID       string            `json:"id"`
		ParentID string            `json:"parentId"`
		Kind     string            `json:"kind"`
		Name     string            `json:"name"`
		Time     int64             `json:"timestamp"`
		Duration int64             `json:"duration"`
		Local    map[string]string `json:"localEndpoint"`
		Tags     map[string]string `json:"tags"`
		Shared   bool              `json:"shared"`
	}
	for _, shared := range []bool{false, true} {
		var buf bytes.Buffer
		n, err := WriteZipkin(&buf, cfg, shared)
		if err != nil {
			t.Fatal(err)
		}
		if n != nl {
			t.Fatalf("WriteZipkin wrote %d spans, WriteJSONL %d", n, nl)
		}
		var doc [][]span
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("not valid JSON: %v", err)
		}
		if len(doc) != cfg.Requests {
			t.Fatalf("%d traces, want %d", len(doc), cfg.Requests)
		}
		total, sharedSpans := 0, 0
		for _, tr := range doc {
			ids := map[string]string{} // id → kind of the span that has it first
			for _, s := range tr {
				total++
				if len(s.TraceID) != 32 || len(s.ID) != 16 || s.Time <= 0 || s.Duration <= 0 || s.Local["serviceName"] == "" || s.Name == "" {
					t.Fatalf("bad span %+v", s)
				}
				if s.Tags["service.version"] == "" {
					t.Fatalf("no service.version tag: %+v", s)
				}
				if k, dup := ids[s.ID]; dup {
					if !shared || !s.Shared || s.Kind != "SERVER" || k != "CLIENT" {
						t.Fatalf("span ID %s reused by %+v", s.ID, s)
					}
					sharedSpans++
				}
				ids[s.ID] = s.Kind
			}
		}
		if total != n || shared != (sharedSpans > 0) {
			t.Fatalf("shared=%v: %d spans, %d shared", shared, total, sharedSpans)
		}
	}
}
