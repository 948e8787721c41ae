package sources

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

var updateTempo = flag.Bool("update-tempo", false, "rewrite the generated fixtures in testdata/tempo/")

// tempoFixtureSpans is the trace the generated fixtures hold: one request
// whose LLM call failed, without the generator's fake personal data.
func tempoFixtureSpans() []synth.Span {
	return synth.New(synth.Config{Requests: 1, Seed: 42, NoPII: true, ErrorRate: 1}).Next()
}

// tempoFixtures are the generated fixture files and their contents.
func tempoFixtures(t testing.TB) map[string][]byte {
	spans := tempoFixtureSpans()
	out := map[string][]byte{}
	for name, f := range map[string]synth.TempoFormat{
		"v1.json":         synth.TempoV1,
		"v1-legacy.json":  synth.TempoV1Legacy,
		"v2.json":         synth.TempoV2,
		"v2-partial.json": synth.TempoV2Partial,
	} {
		out[name] = append(synth.AppendTempoTrace(nil, spans, f), '\n')
	}
	pb, err := synth.TempoTraceProto(spans)
	if err != nil {
		t.Fatal(err)
	}
	out["v1.pb"] = pb
	v2, err := synth.TempoTraceByIDProto(spans, true)
	if err != nil {
		t.Fatal(err)
	}
	out["v2-partial.pb"] = v2
	return out
}

// TestTempoGeneratedFixtures keeps testdata/tempo's generated files in step
// with the generator; -update-tempo rewrites them.
func TestTempoGeneratedFixtures(t *testing.T) {
	for name, want := range tempoFixtures(t) {
		p := filepath.Join("testdata", "tempo", name)
		if *updateTempo {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run with -update-tempo to write it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator writes; run with -update-tempo", p)
		}
	}
}

// tempoRunProto loads a protobuf body the way produceTracesProto hands it
// to the workers.
func tempoRunProto(t testing.TB, name string, buf []byte, keep ...string) (*model.Dataset, error) {
	t.Helper()
	return run(context.Background(), Options{Keep: keep}, func(ctx context.Context, l *loader) error {
		in := &input{path: "-", name: name}
		l.register(in)
		return produceTracesProto(in, bufioReader(buf), l.send, int64(len(buf)))
	})
}

// tempoV2JSONReadable reports whether the JSON decoder reads the base64 IDs
// Tempo writes inside the v2 wrapper ({"trace":{"resourceSpans":…}}). That
// is decided in otlp.go/decode.go, outside this reader; until they accept
// base64 there, the v2 JSON cases are skipped with the reason.
func tempoV2JSONReadable(t *testing.T) {
	t.Helper()
	doc := `{"trace":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"APBnqgupArc=","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}}`
	ds, err := LoadReader(context.Background(), "v2.json", strings.NewReader(doc), Options{})
	if err != nil || ds.Spans != 1 {
		t.Skip("the JSON decoder reads the IDs under {\"trace\":{\"resourceSpans\":…}} as hex only, and Tempo's v2 answers " +
			"write them in base64: needs the base64 fallback in otlp.go's traceID/spanID (see the Tempo report)")
	}
}

// tempoProtoFilesSniffed reports whether Load recognises a saved protobuf
// answer; that needs load.go's produce to call isTracesProto.
func tempoProtoFilesSniffed(t *testing.T) {
	t.Helper()
	_, err := Load(context.Background(), []string{"testdata/tempo/v1.pb"}, Options{})
	if err != nil && strings.Contains(err.Error(), "not a trace file: it starts with") {
		t.Skip("load.go's produce does not call isTracesProto yet, so saved protobuf files are not recognised (see the Tempo report)")
	}
}

func TestTempoFixturesMatch(t *testing.T) {
	keep := []string{"service.version", "http.route", "gen_ai.request.model"}
	want := zkLoadFile(t, "testdata/tempo/v1.json", keep)
	if len(want) != len(tempoFixtureSpans()) {
		t.Fatalf("v1.json: %d spans", len(want))
	}
	errs := 0
	for _, s := range want {
		if s.Flags&model.FlagError != 0 {
			errs++
		}
		if s.Kind == model.KindUnspecified || s.Service == "" || !strings.Contains(s.Attrs, "service.version=") {
			t.Fatalf("v1.json: span %+v", s)
		}
	}
	if errs != 3 {
		t.Errorf("v1.json: %d error spans, want 3", errs)
	}
	same := func(name string, got []jgSpan) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d spans, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: span %d differs:\n got %+v\nwant %+v", name, i, got[i], want[i])
			}
		}
	}
	same("v1-legacy.json", zkLoadFile(t, "testdata/tempo/v1-legacy.json", keep))
	for _, name := range []string{"v1.pb", "v2-partial.pb"} {
		buf, err := os.ReadFile("testdata/tempo/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !isTracesProto(buf[:min(len(buf), tracesProtoPeek)]) {
			t.Fatalf("%s is not recognised as protobuf", name)
		}
		ds, err := tempoRunProto(t, name, buf, keep...)
		if err != nil {
			t.Fatal(err)
		}
		same(name, jgSpans(ds))
		partial := ds.Warnings.Count(model.WarnPartialTrace)
		if (name == "v2-partial.pb") != (partial == 1) || ds.Inputs[0].Format != "tempo-proto" {
			t.Errorf("%s: %d partial warnings, format %q", name, partial, ds.Inputs[0].Format)
		}
		if partial == 1 && !strings.Contains(ds.Warnings.List()[0].Example, "exceeds maximum size") {
			t.Errorf("%s: the server's message is not in the warning: %+v", name, ds.Warnings.List())
		}
	}
	t.Run("v2 JSON", func(t *testing.T) {
		tempoV2JSONReadable(t)
		same("v2.json", zkLoadFile(t, "testdata/tempo/v2.json", keep))
		ds, err := Load(context.Background(), []string{"testdata/tempo/v2-partial.json"}, Options{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		same("v2-partial.json", jgSpans(ds))
		if ds.Warnings.Count(model.WarnPartialTrace) != 1 {
			t.Errorf("v2-partial.json: warnings %+v", ds.Warnings.List())
		}
	})
	t.Run("protobuf files by path", func(t *testing.T) {
		tempoProtoFilesSniffed(t)
		for _, name := range []string{"v1.pb", "v2-partial.pb"} {
			ds, err := Load(context.Background(), []string{"testdata/tempo/" + name}, Options{Keep: keep})
			if err != nil {
				t.Fatal(err)
			}
			same(name, jgSpans(ds))
			if ds.Inputs[0].Format != "tempo-proto" {
				t.Errorf("%s: format %q", name, ds.Inputs[0].Format)
			}
		}
	})
}

// zkLoadFile loads one file and returns its spans sorted by trace, start
// and ID, failing on warnings other than partial_trace.
func zkLoadFile(t *testing.T, path string, keep []string) []jgSpan {
	t.Helper()
	ds, err := Load(context.Background(), []string{path}, Options{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	if n := ds.Warnings.Total() - ds.Warnings.Count(model.WarnPartialTrace); n != 0 {
		t.Fatalf("%s: warnings %+v", path, ds.Warnings.List())
	}
	return jgSpans(ds)
}

// TestTempoBatches reads hand-written answers of Tempo 2.x (scopeSpans) and
// Tempo 1.5 (instrumentationLibrarySpans), with the fields real answers
// carry besides the ones analysis reads.
func TestTempoBatches(t *testing.T) {
	for _, name := range []string{"tempo-2.x-batches.json", "tempo-1.5-batches.json"} {
		t.Run(name, func(t *testing.T) {
			ds, err := Load(context.Background(), []string{"testdata/tempo/" + name}, Options{Keep: []string{"tenant", "http.route"}})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Inputs[0].Format != "tempo-json" || ds.Spans != 3 || ds.Warnings.Total() != 0 {
				t.Fatalf("inputs %+v, warnings %+v", ds.Inputs, ds.Warnings.List())
			}
			m := jgByName(t, ds)
			root, client, llm := m["POST /v1/chat"], m["POST /v1/chat/completions"], m["chat gpt-4o"]
			tr := jgTID(t, "4bf92f3577b34da6a3ce929d0e0e4736")
			if root.Trace != tr || root.ID != 0x00f067aa0ba902b7 || root.Parent != 0 || root.Kind != model.KindServer || root.Flags&model.FlagError == 0 {
				t.Errorf("root %+v", root)
			}
			if root.Start != 1763647200000000000 || root.End != 1763647201250000000 {
				t.Errorf("root times %d %d", root.Start, root.End)
			}
			if client.Parent != root.ID || client.ID != 0xb7ad6b7169203331 || client.Kind != model.KindClient || client.Flags&model.FlagError != 0 {
				t.Errorf("client %+v", client)
			}
			if llm.Parent != client.ID || llm.Service != "llm-gateway" || llm.Kind != model.KindInternal || llm.Flags&model.FlagError == 0 {
				t.Errorf("llm %+v", llm)
			}
			if name == "tempo-2.x-batches.json" {
				if root.Attrs != "http.route=/v1/chat, tenant=team-a" {
					t.Errorf("root attrs %q", root.Attrs)
				}
				if len(ds.Links) != 1 || ds.Links[0].To != 0xaabbccddeeff0011 || ds.Links[0].ToTrace != jgTID(t, "5ba9a4b3c1d2e3f4a5b6c7d8e9f00112") {
					t.Errorf("links %+v", ds.Links)
				}
			}
		})
	}
}

func TestTempoProtoSniff(t *testing.T) {
	many := ptrace.NewTraces()
	g := synth.New(synth.Config{Requests: 20, Seed: 9})
	for range 20 {
		synth.TempoTraces(g.Next()).ResourceSpans().MoveAndAppendTo(many.ResourceSpans())
	}
	var m ptrace.ProtoMarshaler
	manyPB, err := m.MarshalTraces(many)
	if err != nil {
		t.Fatal(err)
	}
	// A resource with no attributes: the first inner tag is scope_spans.
	bare := ptrace.NewTraces()
	sp := bare.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID([16]byte{1})
	sp.SetSpanID([8]byte{1})
	sp.SetEndTimestamp(5)
	barePB, err := m.MarshalTraces(bare)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := os.ReadFile("testdata/tempo/v1.pb")
	v2, _ := os.ReadFile("testdata/tempo/v2-partial.pb")
	yes := map[string][]byte{"v1.pb": v1, "v2-partial.pb": v2, "20 traces": manyPB, "no resource": barePB,
		"legacy field 1000": {0x0a, 0x05, 0xc2, 0x3e, 0x02, 0x0a, 0x00}}
	for name, b := range yes {
		if !isTracesProto(b[:min(len(b), tracesProtoPeek)]) {
			t.Errorf("%s: not recognised", name)
		}
	}
	json, _ := os.ReadFile("testdata/tempo/v1.json")
	no := map[string][]byte{
		"JSON":                 json,
		"JSON after newlines":  append([]byte("\n\n\n\n"), json...),
		"array after newlines": []byte("\n\n\n[\n]"),
		"spaces and newlines":  []byte("\n \n\t{}"),
		"text":                 []byte("\nhello world"),
		"newlines then text":   []byte("\n\n\n\nabcdef"),
		"record file":          {0, 0, 0, 5, 0x0a, 3, 'a', 'b', 'c'},
		"zstd":                 {0x28, 0xb5, 0x2f, 0xfd, 0},
		"short":                {0x0a},
		"empty message":        {0x0a, 0x00},
		"length past the body": {0x0a, 0x03, 0x0a, 0x7f, 0x00},
		"empty":                nil,
		"BOM JSON":             append([]byte{0xef, 0xbb, 0xbf}, json...),
	}
	for name, b := range no {
		if isTracesProto(b[:min(len(b), tracesProtoPeek)]) {
			t.Errorf("%s: taken for protobuf", name)
		}
	}
	// Whatever passes the sniffer but is not a trace message is "not a
	// trace file", never spans.
	_, err = tempoRunProto(t, "junk.pb", []byte{0x0a, 0x04, 0x0a, 0x02, 0x08, 0xff, 0xff})
	if err == nil || !errors.Is(err, errNotTrace) {
		t.Errorf("junk: %v", err)
	}
}

// TestTempoProtoGzip: a gzipped protobuf answer is undone first, like JSON.
func TestTempoProtoGzip(t *testing.T) {
	tempoProtoFilesSniffed(t)
	v1, err := os.ReadFile("testdata/tempo/v1.pb")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(v1)
	zw.Close()
	ds, err := LoadReader(context.Background(), "trace.pb.gz", &gz, Options{})
	if err != nil || ds.Spans != len(tempoFixtureSpans()) {
		t.Fatalf("%v", err)
	}
}

// TestTempoMatchesOTLP reads the same generated traces as Collector JSON
// Lines and as each Tempo shape and expects the same spans, to the ns.
func TestTempoMatchesOTLP(t *testing.T) {
	cfg := synth.Config{Requests: 40, Seed: 13, ErrorRate: 0.25}
	var otlp bytes.Buffer
	n, err := synth.WriteJSONL(&otlp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, name string, b []byte) []jgSpan {
		t.Helper()
		ds, err := LoadReader(context.Background(), name, bytes.NewReader(b), Options{Keep: zkKeep})
		if err != nil {
			t.Fatal(err)
		}
		if k := ds.Warnings.Total() - ds.Warnings.Count(model.WarnPartialTrace); k != 0 {
			t.Fatalf("%s: warnings %+v", name, ds.Warnings.List())
		}
		return jgSpans(ds)
	}
	want := load(t, "otlp.jsonl", otlp.Bytes())
	if len(want) != n {
		t.Fatalf("%d OTLP spans, %d written", len(want), n)
	}
	same := func(t *testing.T, name string, got []jgSpan) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d spans, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: span %d differs:\n got %+v\nwant %+v", name, i, got[i], want[i])
			}
		}
	}
	for _, c := range []struct {
		name string
		f    synth.TempoFormat
	}{{"v1", synth.TempoV1}, {"v1 legacy", synth.TempoV1Legacy}, {"v2", synth.TempoV2}, {"v2 partial", synth.TempoV2Partial}} {
		t.Run(c.name, func(t *testing.T) {
			if c.f >= synth.TempoV2 {
				tempoV2JSONReadable(t)
			}
			var doc bytes.Buffer
			if _, err := synth.WriteTempo(&doc, cfg, c.f); err != nil {
				t.Fatal(err)
			}
			same(t, c.name, load(t, c.name, doc.Bytes()))
		})
	}
	t.Run("protobuf", func(t *testing.T) {
		all := ptrace.NewTraces()
		g := synth.New(cfg)
		for range cfg.Requests {
			synth.TempoTraces(g.Next()).ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
		}
		var m ptrace.ProtoMarshaler
		pb, err := m.MarshalTraces(all)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := tempoRunProto(t, "all.pb", pb, zkKeep...)
		if err != nil {
			t.Fatal(err)
		}
		same(t, "protobuf", jgSpans(ds))
	})
}

// tempoSeeds are small inputs for the fuzzer besides the fixture files.
var tempoSeeds = [][]byte{
	[]byte(`{"trace":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"APBnqgupArc=","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]},"status":"PARTIAL","message":"x"}`),
	[]byte(`{"batches":[{"instrumentationLibrarySpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg","spanId":"APBnqgupArc","kind":"SPAN_KIND_CONSUMER","startTimeUnixNano":1,"endTimeUnixNano":2,"status":{"code":"STATUS_CODE_ERROR"}}]}]}]}`),
	{0x0a, 0x05, 0xc2, 0x3e, 0x02, 0x0a, 0x00},
	{0x0a, 0x02, 0x12, 0x00, 0x18, 0x01, 0x22, 0x01, 'x'},
}

// FuzzTempo feeds arbitrary bytes to the Tempo readers: the protobuf one
// when the sniffer takes the input for protobuf, the JSON one otherwise.
func FuzzTempo(f *testing.F) {
	files, _ := filepath.Glob("testdata/tempo/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range tempoSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sk := newSink(model.NewCatalog(), []string{"http.route", "tenant"})
		sk.file = "fuzz"
		var err error
		if isTracesProto(data[:min(len(data), tracesProtoPeek)]) {
			if first := bytes.TrimLeft(data, " \t\r\n"); len(first) > 0 && (first[0] == '{' || first[0] == '[') {
				t.Fatal("JSON taken for protobuf")
			}
			err = decodeTempoProto(sk, data)
		} else {
			err = newDecoder(sk).decodeAll(data)
		}
		if err != nil {
			return
		}
		for b := range sk.buckets {
			for _, s := range sk.buckets[b] {
				if s.End < s.Start || s.ID == 0 || s.Trace.IsZero() {
					t.Fatalf("span %+v accepted", s)
				}
			}
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
