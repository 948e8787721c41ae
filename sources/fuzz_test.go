package sources

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"
)

// FuzzOTLPJSON feeds arbitrary bytes to the reader. It must never panic or
// hang; an error is a fine answer, and whatever loads must be consistent.
func FuzzOTLPJSON(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/sample/*.jsonl")
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > 4096 {
			// The first line or two: a valid document with real attributes.
			cut := 0
			for i, c := range data {
				if c == '\n' {
					cut = i + 1
					if cut > 4096 {
						break
					}
				}
			}
			data = data[:cut]
		}
		f.Add(data)
	}
	f.Add([]byte(otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, `"status":{"code":2},"links":[{"traceId":"`+tid+`","spanId":"`+sidKid+`"}]`))))
	f.Add([]byte(`{"batches":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","startTimeUnixNano":1,"endTimeUnixNano":2}]}]}]}`))
	f.Add([]byte(`{"result":{"resourceSpans":[]}}` + "\n" + `{"trace":{"resourceSpans":null},"status":"PARTIAL"}`))
	f.Add([]byte("\x1f\x8b\x08\x00"))
	f.Add([]byte("\x28\xb5\x2f\xfd\x00"))
	f.Add([]byte("\x00\x00\x00\x05\x0a\x03abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := LoadReader(context.Background(), "fuzz", bytesReader(data), Options{Keep: []string{"prompt.version"}, Workers: 2})
		if err != nil {
			return
		}
		n := 0
		for b := range model.NumBuckets {
			for _, slab := range ds.Bucket(b) {
				for _, s := range slab {
					n++
					if s.End < s.Start || s.ID == 0 || s.Trace.IsZero() || model.BucketOf(s.Trace) != b {
						t.Fatalf("inconsistent span %+v in bucket %d", s, b)
					}
					if int(s.Shape) >= len(ds.Catalog.Shapes()) {
						t.Fatalf("shape %d out of range", s.Shape)
					}
				}
			}
		}
		if n != ds.Spans || n == 0 {
			t.Fatalf("%d spans stored, %d counted", n, ds.Spans)
		}
	})
}

func bytesReader(b []byte) *bytesReaderT { return &bytesReaderT{b: b} }

type bytesReaderT struct{ b []byte }

func (r *bytesReaderT) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// fuzzDecode decodes one fuzz input and checks that every span it accepted
// is usable; errors are a fine answer.
func fuzzDecode(t *testing.T, data []byte, keep ...string) {
	sk := newSink(model.NewCatalog(), keep)
	sk.file = "fuzz.json"
	d := newDecoder(sk)
	if err := d.decodeAll(data); err != nil {
		return
	}
	for b := range sk.buckets {
		for _, s := range sk.buckets[b] {
			if s.End < s.Start || s.ID == 0 || s.Trace.IsZero() {
				t.Fatalf("span %+v accepted", s)
			}
		}
	}
}
