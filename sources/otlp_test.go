package sources

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/internal/spantest"
	"github.com/trace-forensics/trace-forensics/model"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	tid     = "5b8efff798038103d269b633813fc60c"
	sidRoot = "eee19b7ec3c1b174"
	sidKid  = "eee19b7ec3c1b173"
)

// otlpDoc wraps spans JSON in one ExportTraceServiceRequest of service svc.
func otlpDoc(svc string, spans ...string) string {
	return `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"` + svc +
		`"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[` + strings.Join(spans, ",") + `]}]}]}`
}

func otlpSpan(trace, id, parent, name string, start, end int64, extra string) string {
	s := fmt.Sprintf(`{"traceId":%q,"spanId":%q,"parentSpanId":%q,"name":%q,"kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"`,
		trace, id, parent, name, start, end)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func load(t *testing.T, in string, opt Options) *model.Dataset {
	t.Helper()
	ds, err := LoadReader(context.Background(), "test.json", strings.NewReader(in), opt)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func allSpans(ds *model.Dataset) []model.Span { return spantest.Raw(ds) }

func opOf(ds *model.Dataset, s model.Span) model.Op {
	return ds.Catalog.Ops()[ds.Catalog.Shapes()[s.Shape].Op]
}

func TestOTLPBasic(t *testing.T) {
	doc := otlpDoc("chat-gateway",
		otlpSpan(tid, sidRoot, "", "POST /v1/chat", 1000, 5000, `"status":{"code":2}`),
		otlpSpan(tid, sidKid, sidRoot, "llm", 2000, 4000, `"kind":"SPAN_KIND_CLIENT"`))
	ds := load(t, doc, Options{})
	spans := allSpans(ds)
	if len(spans) != 2 || ds.Spans != 2 {
		t.Fatalf("got %d spans", len(spans))
	}
	root, kid := spans[0], spans[1]
	if root.Trace.String() != tid || root.ID.String() != sidRoot || root.Parent != 0 {
		t.Errorf("root IDs: %s %s %s", root.Trace, root.ID, root.Parent)
	}
	if kid.Parent != root.ID || kid.Start != 2000 || kid.End != 4000 {
		t.Errorf("kid: %+v", kid)
	}
	if root.Flags&model.FlagError == 0 || kid.Flags&model.FlagError != 0 {
		t.Errorf("error flags: root %v kid %v", root.Flags, kid.Flags)
	}
	if root.Kind != model.KindServer || kid.Kind != model.KindClient {
		t.Errorf("kinds %v %v", root.Kind, kid.Kind)
	}
	if op := opOf(ds, kid); op.Service != "chat-gateway" || op.Name != "llm" {
		t.Errorf("op %+v", op)
	}
	if ds.Inputs[0].Format != "otlp-json" {
		t.Errorf("format %q", ds.Inputs[0].Format)
	}
}

func TestOTLPVariants(t *testing.T) {
	// snake_case keys, numbers as numbers, the legacy instrumentationLibrarySpans,
	// the resource after its spans, named status, error attribute.
	doc := `{"resource_spans":[{"instrumentation_library_spans":[{"spans":[
		{"trace_id":"` + strings.ToUpper(tid) + `","span_id":"` + sidRoot + `","name":"a","kind":3,
		 "start_time_unix_nano":100,"end_time_unix_nano":250,"status":{"code":"STATUS_CODE_ERROR"}},
		{"traceId":"` + tid + `","spanId":"` + sidKid + `","parentSpanId":"` + sidRoot + `","name":"b",
		 "startTimeUnixNano":120,"endTimeUnixNano":130,"unknownField":{"deep":[1,2,3]},
		 "attributes":[{"value":{"boolValue":true},"key":"error"}]}]}],
		"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]}}]}`
	ds := load(t, doc, Options{})
	spans := allSpans(ds)
	if len(spans) != 2 {
		t.Fatalf("got %d spans", len(spans))
	}
	if spans[0].Trace.String() != tid || spans[0].End != 250 || spans[0].Kind != model.KindClient || spans[0].Flags&model.FlagError == 0 {
		t.Errorf("span a: %+v", spans[0])
	}
	if spans[1].Flags&model.FlagError == 0 {
		t.Errorf("error attribute not seen")
	}
	if op := opOf(ds, spans[0]); op.Service != "svc" {
		t.Errorf("service %q: the resource after the spans was not applied", op.Service)
	}
}

func TestOTLPKeptAttributes(t *testing.T) {
	doc := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},
		{"key":"service.version","value":{"stringValue":"1.2"}}]},"scopeSpans":[{"spans":[` +
		otlpSpan(tid, sidRoot, "", "a", 1, 2, `"attributes":[{"key":"prompt.version","value":{"stringValue":"B"}},
		{"key":"user.email","value":{"stringValue":"ada@example.com"}},{"key":"tokens","value":{"intValue":"42"}}]`) + `]}]}]}`
	ds := load(t, doc, Options{Keep: []string{"prompt.version", "service.version", "tokens"}})
	sh := ds.Catalog.Shapes()[allSpans(ds)[0].Shape]
	for k, want := range map[string]string{"prompt.version": "B", "service.version": "1.2", "tokens": "42"} {
		if v, ok := sh.Attr(k); !ok || v != want {
			t.Errorf("%s = %q, %v; want %q", k, v, ok, want)
		}
	}
	if _, ok := sh.Attr("user.email"); ok {
		t.Error("an attribute that was not asked for was kept")
	}
}

// TestOTLPAttributeLayouts gives one kept attribute in every layout the
// readers' fast paths must either take or leave to the general reader.
func TestOTLPAttributeLayouts(t *testing.T) {
	for name, c := range map[string]struct{ attr, want string }{
		"plain":         {`{"key":"k","value":{"stringValue":"v w"}}`, "v w"},
		"spaces":        {`{ "key" : "k" , "value" : { "stringValue" : "v w" } }`, "v w"},
		"value first":   {`{"value":{"stringValue":"v w"},"key":"k"}`, "v w"},
		"escaped value": {`{"key":"k","value":{"stringValue":"v\u0020w"}}`, "v w"},
		"escaped key":   {`{"key":"\u006b","value":{"stringValue":"v w"}}`, "v w"},
		"snake case":    {`{"key":"k","value":{"string_value":"v w"}}`, "v w"},
		"extra field":   {`{"key":"k","value":{"stringValue":"v w"},"x":1}`, "v w"},
		"int value":     {`{"key":"k","value":{"intValue":"12"}}`, "12"},
		"bool value":    {`{"key":"k","value":{"boolValue":true}}`, "true"},
	} {
		doc := `{"resourceSpans":[{"scopeSpans":[{"spans":[` + otlpSpan(tid, sidRoot, "", "a", 1, 2,
			`"attributes":[{"key":"other","value":{"stringValue":"x"}},`+c.attr+`,{"key":"error","value":{"stringValue":"true"}}]`) + `]}]}]}`
		ds := load(t, doc, Options{Keep: []string{"k"}})
		span := allSpans(ds)[0]
		if v, ok := ds.Catalog.Shapes()[span.Shape].Attr("k"); !ok || v != c.want {
			t.Errorf("%s: k = %q, %v; want %q", name, v, ok, c.want)
		}
		if span.Flags&model.FlagError == 0 {
			t.Errorf("%s: the error attribute after it was not seen", name)
		}
	}
}

func TestOTLPWarnings(t *testing.T) {
	doc := `{"resourceSpans":[{"scopeSpans":[{"spans":[` + strings.Join([]string{
		otlpSpan(tid, "0000000000000001", "", "no service", 10, 20, ""),
		otlpSpan(tid, "0000000000000002", "", "backwards", 30, 20, ""),
		otlpSpan("zz", "0000000000000003", "", "bad trace id", 10, 20, ""),
		otlpSpan(tid, "xyz", "", "bad span id", 10, 20, ""),
		`{"traceId":"` + tid + `","spanId":"0000000000000005","name":"no end","startTimeUnixNano":"5"}`,
		otlpSpan(tid, "0000000000000006", "", "huge", 10, 0, `"endTimeUnixNano":"99999999999999999999999"`),
	}, ",") + `]}]}]}`
	ds := load(t, doc, Options{})
	if ds.Spans != 2 {
		t.Errorf("kept %d spans, want 2", ds.Spans)
	}
	want := map[string]int{model.WarnMissingService: 2, model.WarnEndBeforeStart: 1, model.WarnBadSpan: 3, model.WarnMissingTime: 1}
	for k, n := range want {
		if got := ds.Warnings.Count(k); got != n {
			t.Errorf("%s: %d, want %d (%v)", k, got, n, ds.Warnings.List())
		}
	}
	for _, w := range ds.Warnings.List() {
		if !strings.HasPrefix(w.Example, "test.json: line 1 (byte ") {
			t.Errorf("%s example does not say where: %q", w.Kind, w.Example)
		}
	}
	for _, s := range allSpans(ds) {
		if s.End < s.Start {
			t.Errorf("span %s ends before it starts", s.ID)
		}
	}
}

func TestJSONLinesJoinTraces(t *testing.T) {
	dir := t.TempDir()
	line1 := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, ""))
	line2 := otlpDoc("db", otlpSpan(tid, sidKid, sidRoot, "query", 10, 20, ""))
	line3 := otlpDoc("db", otlpSpan(tid, "eee19b7ec3c1b172", sidRoot, "query", 30, 40, ""))
	os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte(line1+"\n"+line2+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.jsonl"), []byte(line3+"\n"), 0o644)
	ds, err := Load(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	spans := allSpans(ds)
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	for _, s := range spans {
		if s.Trace != spans[0].Trace || model.BucketOf(s.Trace) != model.BucketOf(spans[0].Trace) {
			t.Error("spans of one trace were not joined")
		}
	}
	if len(ds.Inputs) != 2 {
		t.Errorf("inputs %+v", ds.Inputs)
	}
}

func TestCompressedAndStdin(t *testing.T) {
	doc := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, "")) + "\n"
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte(doc))
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write([]byte(doc))
	zw.Close()
	for name, data := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zs.Bytes(), "plain": []byte(doc)} {
		t.Run(name, func(t *testing.T) {
			ds, err := Load(context.Background(), []string{"-"}, Options{Stdin: bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Spans != 1 || ds.Inputs[0].Name != "stdin" {
				t.Errorf("spans %d inputs %+v", ds.Spans, ds.Inputs)
			}
		})
	}
}

// The Collector's file exporter with compression: zstd writes 4-byte
// big-endian length-prefixed records, each compressed on its own;
// format: proto writes length-prefixed protobuf.
func TestCollectorRecords(t *testing.T) {
	doc := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, ""))
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var m ptrace.ProtoMarshaler
	pb, _ := m.MarshalTraces(td)
	enc, _ := zstd.NewWriter(nil)
	record := func(b []byte) []byte {
		var h [4]byte
		binary.BigEndian.PutUint32(h[:], uint32(len(b)))
		return append(h[:], b...)
	}
	cases := map[string][]byte{
		"zstd json records":  append(record(enc.EncodeAll([]byte(doc), nil)), record(enc.EncodeAll([]byte(doc), nil))...),
		"proto records":      append(record(pb), record(pb)...),
		"zstd proto records": record(enc.EncodeAll(pb, nil)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			ds, err := LoadReader(context.Background(), "x", bytes.NewReader(data), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Spans == 0 || allSpans(ds)[0].Trace.String() != tid {
				t.Errorf("spans %d", ds.Spans)
			}
		})
	}
}

func TestTempoShapes(t *testing.T) {
	// Tempo v1 JSON: batches, base64 IDs, enum names.
	v1 := `{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gw"}}]},
		"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","name":"root",
		"kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1","endTimeUnixNano":"9"}]}]}]}`
	ds := load(t, v1, Options{})
	s := allSpans(ds)[0]
	if s.Trace.String() != tid || s.ID.String() != sidRoot || s.Kind != model.KindServer {
		t.Errorf("tempo v1 span: %s %s %v", s.Trace, s.ID, s.Kind)
	}
	v2 := `{"trace":` + otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, "")) + `,"status":"PARTIAL","message":"x"}`
	ds = load(t, v2, Options{})
	if ds.Spans != 1 || ds.Warnings.Count(model.WarnPartialTrace) != 1 {
		t.Errorf("tempo v2: spans %d warnings %v", ds.Spans, ds.Warnings.List())
	}
	v3 := `{"result":` + otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, "")) + `}`
	if ds = load(t, v3, Options{}); ds.Spans != 1 {
		t.Errorf("jaeger api_v3 result: %d spans", ds.Spans)
	}
}

func TestBadInput(t *testing.T) {
	good := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, ""))
	cases := []struct{ name, in, want string }{
		{"empty", "", "x.json: the file is empty"},
		{"blank", "  \n ", "x.json: the file is empty"},
		{"not json", "hello world", `x.json: not a trace file: it starts with 'h'`},
		{"truncated document", good[:len(good)-30], "x.json: byte "},
		{"truncated second line", good + "\n" + good[:120] + "\n" + good + "\n", "x.json: line 2"},
		{"wrong shape", `{"foo":1,"bar":[2]}`, "no trace data recognised: top-level keys are foo, bar"},
		{"no spans", `{"resourceSpans":[]}`, "x.json: no spans found"},
		{"scalar", `42`, "it starts with '4', not a JSON object or array"},
		{"scalar line", `{"resourceSpans":[]}` + "\n42\n", "x.json: line 2 (byte 21): expected a JSON object or array"},
		{"bad value type", `{"resourceSpans":{"a":1}}`, "expected an array"},
		{"binary", "\x00\x01\x02\x03\x04\x05", "not a trace file"},
		{"garbage after value", good + " }", "x.json: byte"},
		{"deeply nested junk", `{"x":` + strings.Repeat("[", 300000) + strings.Repeat("]", 300000) + `}`, "no trace data recognised: top-level keys are x"},
		{"deeply nested truncated", `{"resourceSpans":` + strings.Repeat("[{", 300000), "expected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadReader(context.Background(), "x.json", strings.NewReader(c.in), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestTruncatedErrorNamesLineAndByte(t *testing.T) {
	good := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, ""))
	in := good + "\n" + good + "\n" + good[:50] + "\n"
	_, err := LoadReader(context.Background(), "spans.jsonl", strings.NewReader(in), Options{})
	want := fmt.Sprintf("spans.jsonl: line 3 (byte %d): ", 2*(len(good)+1)+50)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want prefix %q", err, want)
	}
}

func TestDirectoriesAndGlobs(t *testing.T) {
	dir := t.TempDir()
	doc := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, ""))
	os.MkdirAll(filepath.Join(dir, "sub", ".hidden"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "a.json"), []byte(doc), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", ".hidden", "b.json"), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# notes"), 0o644)
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"x"}`), 0o644)
	ds, err := Load(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spans != 1 || ds.Warnings.Count(model.WarnSkippedFile) != 2 {
		t.Errorf("spans %d, warnings %v", ds.Spans, ds.Warnings.List())
	}
	ds, err = Load(context.Background(), []string{filepath.Join(dir, "sub", "*.json")}, Options{})
	if err != nil || ds.Spans != 1 {
		t.Fatalf("glob: %v", err)
	}
	if _, err := Load(context.Background(), []string{filepath.Join(dir, "*.nothing")}, Options{}); err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("empty glob: %v", err)
	}
	if _, err := Load(context.Background(), []string{filepath.Join(dir, "missing.json")}, Options{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	// A file named explicitly must be a trace file.
	if _, err := Load(context.Background(), []string{filepath.Join(dir, "package.json")}, Options{}); err == nil {
		t.Error("a non-trace file named explicitly was accepted")
	}
}

// Line batches are decoded in parallel; a file larger than one batch must
// give the same spans as the same lines read one at a time.
func TestLargeFileParallelBatches(t *testing.T) {
	var b strings.Builder
	n := 0
	for b.Len() < 3*chunkSize {
		id := fmt.Sprintf("%016x", n+1)
		b.WriteString(otlpDoc("gw", otlpSpan(tid, id, "", "root", int64(n), int64(n+10), `"attributes":[{"key":"k","value":{"stringValue":"`+strings.Repeat("v", 500)+`"}}]`)))
		b.WriteByte('\n')
		n++
	}
	ds, err := LoadReader(context.Background(), "big", strings.NewReader(b.String()), Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spans != n {
		t.Fatalf("%d spans, want %d", ds.Spans, n)
	}
	seen := map[model.SpanID]bool{}
	for _, s := range allSpans(ds) {
		seen[s.ID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct spans, want %d", len(seen), n)
	}
}

func TestDeeplyNestedAttributeValue(t *testing.T) {
	deep := strings.Repeat(`{"arrayValue":{"values":[`, 50000) + strings.Repeat(`]}}`, 50000)
	doc := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "root", 0, 100, `"attributes":[{"key":"junk","value":`+deep+`}]`))
	ds := load(t, doc, Options{Keep: []string{"junk"}})
	if ds.Spans != 1 {
		t.Fatalf("%d spans", ds.Spans)
	}
}

// TestShapeCacheClashes emits more distinct shapes than the sink's recent
// slots, twice over and in two orders, and checks every span's shape.
func TestShapeCacheClashes(t *testing.T) {
	var b strings.Builder
	n := 0
	for round := range 2 {
		for i := range 700 {
			k := i
			if round == 1 {
				k = 699 - i
			}
			n++
			b.WriteString(otlpDoc(fmt.Sprintf("svc-%d", k%7), otlpSpan(tid, fmt.Sprintf("%016x", n), "", fmt.Sprintf("op-%d", k), int64(k), int64(k+1), "")))
			b.WriteByte('\n')
		}
	}
	ds := load(t, b.String(), Options{Workers: 1})
	ops, shapes := ds.Catalog.Ops(), ds.Catalog.Shapes()
	if len(shapes) != 700 {
		t.Fatalf("%d shapes, want 700", len(shapes))
	}
	for _, s := range allSpans(ds) {
		op := ops[shapes[s.Shape].Op]
		k := int(s.Start)
		if op.Name != fmt.Sprintf("op-%d", k) || op.Service != fmt.Sprintf("svc-%d", k%7) {
			t.Fatalf("span starting at %d has %s/%s", k, op.Service, op.Name)
		}
	}
}
