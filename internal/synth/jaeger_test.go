package synth

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// TestWriteJaeger checks that the document is valid JSON of Jaeger's shape
// and holds the same spans as WriteJSONL, times in µs.
func TestWriteJaeger(t *testing.T) {
	cfg := Config{Requests: 40, Seed: 3, ErrorRate: 0.3}
	var buf bytes.Buffer
	n, err := WriteJaeger(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	nl, err := WriteJSONL(io.Discard, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n != nl {
		t.Fatalf("WriteJaeger wrote %d spans, WriteJSONL %d", n, nl)
	}

	var doc struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []struct {
				TraceID    string `json:"traceID"`
				SpanID     string `json:"spanID"`
				Operation  string `json:"operationName"`
				References []struct {
					RefType string `json:"refType"`
					SpanID  string `json:"spanID"`
				} `json:"references"`
				StartTime int64  `json:"startTime"`
				Duration  int64  `json:"duration"`
				ProcessID string `json:"processID"`
				Tags      []struct {
					Key   string `json:"key"`
					Type  string `json:"type"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not valid JSON: %v", err)
	}
	if len(doc.Data) != cfg.Requests {
		t.Fatalf("%d traces, want %d", len(doc.Data), cfg.Requests)
	}

	g := New(cfg)
	spans, errors := 0, 0
	for _, tr := range doc.Data {
		want := g.Next()
		if len(tr.Spans) != len(want) {
			t.Fatalf("trace %s: %d spans, want %d", tr.TraceID, len(tr.Spans), len(want))
		}
		for i, s := range tr.Spans {
			w := want[i]
			spans++
			if s.TraceID != tr.TraceID || len(s.TraceID) != 32 || len(s.SpanID) != 16 {
				t.Fatalf("span %s: bad IDs (trace %s of %s)", s.SpanID, s.TraceID, tr.TraceID)
			}
			p, ok := tr.Processes[s.ProcessID]
			if !ok || p.ServiceName != w.Service {
				t.Fatalf("span %s: process %q gives service %q, want %q", s.SpanID, s.ProcessID, p.ServiceName, w.Service)
			}
			if s.StartTime != w.Start/1000 || s.StartTime+s.Duration != w.End/1000 {
				t.Fatalf("span %s: %d+%d µs, want %d..%d ns", s.SpanID, s.StartTime, s.Duration, w.Start, w.End)
			}
			if (w.Parent == [8]byte{}) != (len(s.References) == 0) {
				t.Fatalf("span %s: references %v for parent %x", s.SpanID, s.References, w.Parent)
			}
			kind := ""
			isErr := false
			for _, tag := range s.Tags {
				switch tag.Key {
				case "span.kind":
					kind = tag.Value.(string)
				case "error":
					isErr = tag.Value == true && tag.Type == "bool"
				}
			}
			if kind != jaegerKinds[w.Kind] {
				t.Fatalf("span %s: span.kind %q, want %q", s.SpanID, kind, jaegerKinds[w.Kind])
			}
			if isErr != w.Error {
				t.Fatalf("span %s: error tag %v, want %v", s.SpanID, isErr, w.Error)
			}
			if isErr {
				errors++
			}
		}
	}
	if spans != n {
		t.Fatalf("read %d spans, WriteJaeger said %d", spans, n)
	}
	if errors == 0 {
		t.Fatal("no error spans generated; the test needs some")
	}
}
