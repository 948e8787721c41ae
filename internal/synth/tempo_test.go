package synth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestWriteTempo checks each Tempo JSON shape is valid JSON with the spans
// WriteJSONL writes, IDs in base64, and that the protobuf answers decode.
func TestWriteTempo(t *testing.T) {
	cfg := Config{Requests: 10, Seed: 3, ErrorRate: 0.3}
	nl, err := WriteJSONL(io.Discard, cfg)
	if err != nil {
		t.Fatal(err)
	}
	type span struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
		Kind    string `json:"kind"`
	}
	type scope struct {
		Spans []span `json:"spans"`
	}
	type rs struct {
		ScopeSpans []scope `json:"scopeSpans"`
		ILS        []scope `json:"instrumentationLibrarySpans"`
	}
	for _, f := range []TempoFormat{TempoV1, TempoV1Legacy, TempoV2, TempoV2Partial} {
		var buf bytes.Buffer
		n, err := WriteTempo(&buf, cfg, f)
		if err != nil || n != nl {
			t.Fatalf("format %d: %d spans, %v; want %d", f, n, err, nl)
		}
		var doc struct {
			Batches []rs `json:"batches"`
			Trace   struct {
				ResourceSpans []rs `json:"resourceSpans"`
			} `json:"trace"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("format %d: not valid JSON: %v", f, err)
		}
		batches := doc.Batches
		if f >= TempoV2 {
			batches = doc.Trace.ResourceSpans
		}
		if (f == TempoV2Partial) != (doc.Status == "PARTIAL") {
			t.Errorf("format %d: status %q", f, doc.Status)
		}
		total := 0
		for _, b := range batches {
			scopes := b.ScopeSpans
			if f == TempoV1Legacy {
				scopes = b.ILS
			}
			for _, sc := range scopes {
				for _, s := range sc.Spans {
					tr, err1 := base64.StdEncoding.DecodeString(s.TraceID)
					id, err2 := base64.StdEncoding.DecodeString(s.SpanID)
					if err1 != nil || err2 != nil || len(tr) != 16 || len(id) != 8 || len(s.Kind) < 10 {
						t.Fatalf("format %d: bad span %+v", f, s)
					}
					total++
				}
			}
		}
		if total != nl {
			t.Errorf("format %d: %d spans in the document, want %d", f, total, nl)
		}
	}

	spans := New(cfg).Next()
	pb, err := TempoTraceProto(spans)
	if err != nil {
		t.Fatal(err)
	}
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(pb)
	if err != nil || td.SpanCount() != len(spans) {
		t.Fatalf("v1 protobuf: %d spans, %v", td.SpanCount(), err)
	}
	v2, err := TempoTraceByIDProto(spans, true)
	if err != nil || !bytes.Contains(v2, pb) || v2[0] != 0x0a {
		t.Fatalf("v2 protobuf does not hold the trace in field 1: %v", err)
	}
}
