package analyze

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/sources"
)

// Benchmarks: what the analysis costs next to reading the spans, per span.
//
//	go test ./analyze -run '^$' -bench . -benchtime 3x
//
// BenchmarkRead* parse generated LLM-chat traffic (OTLP JSON Lines) and
// BenchmarkAnalyze* / BenchmarkCriticalPath* analyse the same traffic, so
// their ns/span compare directly; the 100k-span traces and the million
// tiny traces check that the cost stays linear in spans.

const benchSpans = 200_000

func synthBytes(b *testing.B, spans int) []byte {
	b.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: spans / synth.SpansPerRequest, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func load(b *testing.B, data []byte) *model.Dataset {
	b.Helper()
	ds, err := sources.LoadReader(context.Background(), "bench", bytes.NewReader(data), sources.Options{Keep: DefaultStageRules().Keys()})
	if err != nil {
		b.Fatal(err)
	}
	return ds
}

func perSpan(b *testing.B, spans int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(spans), "ns/span")
}

// BenchmarkReadSynth is the parsing cost the analysis is compared with.
func BenchmarkReadSynth(b *testing.B) {
	data := synthBytes(b, benchSpans)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var spans int
	for b.Loop() {
		spans = load(b, data).Spans
	}
	perSpan(b, spans)
}

// BenchmarkAnalyzeSynth is the whole analysis: assembly, skew, stages,
// self time, critical path, every figure, bands and coverage.
func BenchmarkAnalyzeSynth(b *testing.B) {
	ds := load(b, synthBytes(b, benchSpans))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(ds, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, ds.Spans)
}

// BenchmarkCriticalPathSynth is the critical path alone, on assembled traces.
func BenchmarkCriticalPathSynth(b *testing.B) {
	ds := load(b, synthBytes(b, benchSpans))
	traces := datasetTraces(ds)
	n := 0
	for _, t := range traces {
		t.assemble()
		n += len(t.Spans)
	}
	var sc cpScratch
	var is cpIssues
	cp := make([]int64, 64)
	var sl []Slice
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range traces {
			sl = t.criticalPath(&sc, cp[:len(t.Spans)], sl[:0], &is)
		}
	}
	perSpan(b, n)
}

// bigTrace builds one trace of n spans: wide (every span a child of the
// root), deep (a chain) or a random tree with fan-out and skew.
func bigTrace(shape string, n int) *Trace {
	rng := rand.New(rand.NewPCG(9, 9))
	spans := make([]model.Span, n)
	for i := range spans {
		s := &spans[i]
		s.Trace = model.TraceID{15: 7}
		s.ID = model.SpanID(i + 1)
		switch {
		case i == 0:
			s.Start, s.End = 0, int64(10*n)
		case shape == "wide":
			s.Parent = 1
			s.Start = rng.Int64N(int64(9 * n))
			s.End = s.Start + rng.Int64N(int64(n))
		case shape == "deep":
			s.Parent = model.SpanID(i)
			s.Start, s.End = int64(i), int64(10*n-i)
		default:
			p := &spans[rng.IntN(i)]
			s.Parent = p.ID
			d := max(p.End-p.Start, 1)
			s.Start = p.Start + rng.Int64N(d) - d/50 // some start a little early
			s.End = s.Start + rng.Int64N(d/2+1)
		}
		s.Shape = uint32(i % 16)
	}
	t := &Trace{Spans: spans}
	t.assemble()
	return t
}

func BenchmarkCriticalPath100kSpanTrace(b *testing.B) {
	for _, shape := range []string{"wide", "deep", "random"} {
		b.Run(shape, func(b *testing.B) {
			t := bigTrace(shape, 100_000)
			var sc cpScratch
			var is cpIssues
			cp := make([]int64, len(t.Spans))
			var sl []Slice
			b.ReportAllocs()
			for b.Loop() {
				sl = t.criticalPath(&sc, cp, sl[:0], &is)
			}
			perSpan(b, len(t.Spans))
		})
	}
}

// tinyTraces writes n traces of one or two spans as OTLP JSON Lines.
func tinyTraces(n int) []byte {
	var buf bytes.Buffer
	rng := rand.New(rand.NewPCG(5, 5))
	line := func(spans []string) {
		buf.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"spans":[`)
		for i, s := range spans {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(s)
		}
		buf.WriteString("]}]}]}\n")
	}
	var batch []string
	for i := range n {
		tid := fmt.Sprintf("%032x", i+1)
		start := int64(1_700_000_000_000_000_000) + int64(i)*1000
		d := 1_000_000 + rng.Int64N(9_000_000)
		batch = append(batch, `{"traceId":"`+tid+`","spanId":"00000000000000a1","name":"GET /item","kind":2,"startTimeUnixNano":"`+
			strconv.FormatInt(start, 10)+`","endTimeUnixNano":"`+strconv.FormatInt(start+d, 10)+`"}`)
		if i%2 == 0 {
			batch = append(batch, `{"traceId":"`+tid+`","spanId":"00000000000000b2","parentSpanId":"00000000000000a1","name":"SELECT item","kind":3,"startTimeUnixNano":"`+
				strconv.FormatInt(start+d/4, 10)+`","endTimeUnixNano":"`+strconv.FormatInt(start+d/2, 10)+`"}`)
		}
		if len(batch) >= 256 {
			line(batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		line(batch)
	}
	return buf.Bytes()
}

// BenchmarkMillionTinyTraces reads and analyses a million traces of one or
// two spans: per-trace costs (assembly, maps, per-request records) must
// stay small.
func BenchmarkMillionTinyTraces(b *testing.B) {
	data := tinyTraces(1_000_000)
	b.Run("read", func(b *testing.B) {
		var spans int
		for b.Loop() {
			spans = load(b, data).Spans
		}
		perSpan(b, spans)
	})
	b.Run("analyze", func(b *testing.B) {
		ds := load(b, data)
		var res *Result
		for b.Loop() {
			var err error
			if res, err = Analyze(ds, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		if res.Requests.Summary.Count != 1_000_000 {
			b.Fatalf("%d requests", res.Requests.Summary.Count)
		}
		perSpan(b, ds.Spans)
	})
}

// BenchmarkAnalyze100kSpanTraces analyses a dataset of ten 100k-span
// traces through the whole pipeline.
func BenchmarkAnalyze100kSpanTraces(b *testing.B) {
	var buf bytes.Buffer
	for k := range 10 {
		t := bigTrace([]string{"wide", "deep", "random"}[k%3], 100_000)
		var batch []string
		flush := func() {
			buf.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"spans":[`)
			for i, s := range batch {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.WriteString(s)
			}
			buf.WriteString("]}]}]}\n")
			batch = batch[:0]
		}
		for _, s := range t.Spans {
			parent := ""
			if s.Parent != 0 {
				parent = s.Parent.String()
			}
			batch = append(batch, fmt.Sprintf(`{"traceId":"%032x","spanId":"%s","parentSpanId":"%s","name":"op%d","startTimeUnixNano":"%d","endTimeUnixNano":"%d"}`,
				k+1, s.ID, parent, s.Shape, s.Start+1e18, s.End+1e18))
			if len(batch) == 512 {
				flush()
			}
		}
		flush()
	}
	ds := load(b, buf.Bytes())
	for b.Loop() {
		if _, err := Analyze(ds, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, ds.Spans)
}

// BenchmarkCriticalPathTinyTraces is the critical path alone over tiny
// traces (one or two spans), assembled beforehand.
func BenchmarkCriticalPathTinyTraces(b *testing.B) {
	traces := datasetTraces(load(b, tinyTraces(200_000)))
	n := 0
	for _, t := range traces {
		t.assemble()
		n += len(t.Spans)
	}
	var sc cpScratch
	var is cpIssues
	cp := make([]int64, 2)
	var sl []Slice
	for b.Loop() {
		for _, t := range traces {
			sl = t.criticalPath(&sc, cp[:len(t.Spans)], sl[:0], &is)
		}
	}
	perSpan(b, n)
}
