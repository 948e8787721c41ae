package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// zkSpan builds one Zipkin v2 span object; extra holds more fields.
func zkSpan(trace, id, parent, kind, name, service string, ts, dur int64, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"traceId":%q,"id":%q`, trace, id)
	if parent != "" {
		fmt.Fprintf(&b, `,"parentId":%q`, parent)
	}
	if kind != "" {
		fmt.Fprintf(&b, `,"kind":%q`, kind)
	}
	fmt.Fprintf(&b, `,"name":%q,"timestamp":%d,"duration":%d`, name, ts, dur)
	if service != "" {
		fmt.Fprintf(&b, `,"localEndpoint":{"serviceName":%q}`, service)
	}
	if extra != "" {
		b.WriteString("," + extra)
	}
	b.WriteString("}")
	return b.String()
}

// zkDoc is an array of spans.
func zkDoc(spans ...string) string { return "[" + strings.Join(spans, ",") + "]" }

const zkTrace = "86154a4ba6e91385"

func TestZipkinFixtureTrace(t *testing.T) {
	ds, err := Load(context.Background(), []string{"testdata/zipkin/trace.json"}, Options{Keep: []string{"http.route", "db.system"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Inputs[0].Format != "zipkin-json" || ds.Spans != 5 {
		t.Fatalf("inputs %+v", ds.Inputs)
	}
	if n := ds.Warnings.Count(model.WarnMissingTime); n != 1 || ds.Warnings.Total() != 1 {
		t.Errorf("warnings %+v, want one missing_timestamp", ds.Warnings.List())
	}
	m := map[string]jgSpan{}
	for _, s := range jgSpans(ds) {
		m[s.Service+" "+s.Name] = s
	}
	root, client, server := m["frontend get /checkout"], m["frontend post /api/charge"], m["payments post /api/charge"]
	db, local := m["payments select accounts"], m["frontend retry-backoff"]
	shared := model.SpanID(0x4d1e00c0db9010db)
	if root.Trace != jgTID(t, zkTrace) || root.ID != 0x86154a4ba6e91385 || root.Parent != 0 || root.Kind != model.KindServer {
		t.Errorf("root %+v", root)
	}
	if root.Start != 1700000000000000000 || root.End != 1700000000026000000 {
		t.Errorf("root times %d %d", root.Start, root.End)
	}
	if root.Attrs != "http.route=/checkout" {
		t.Errorf("root attrs %q", root.Attrs)
	}
	if client.ID != shared || client.Parent != root.ID || client.Kind != model.KindClient {
		t.Errorf("client half %+v", client)
	}
	if server.ID != zipkinSharedID(shared) || server.Parent != shared || server.Kind != model.KindServer {
		t.Errorf("server half %+v: want ID %s under the client", server, zipkinSharedID(shared))
	}
	if db.Parent != server.ID || db.Flags&model.FlagError == 0 || db.Attrs != "db.system=postgresql" {
		t.Errorf("the server's child %+v: want it under the server half, with the error tag", db)
	}
	if local.Parent != client.ID || local.Kind != model.KindInternal || local.Flags&model.FlagError != 0 {
		t.Errorf("the client's own child %+v: want it under the client, internal, no error", local)
	}
}

func TestZipkinArrayOfTraces(t *testing.T) {
	ds, err := Load(context.Background(), []string{"testdata/zipkin/traces.json"}, Options{Keep: []string{"prompt.version", "gen_ai.request.model"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spans != 4 || ds.Warnings.Total() != 0 {
		t.Fatalf("%d spans, warnings %+v", ds.Spans, ds.Warnings.List())
	}
	m := jgByName(t, ds)
	llm := m["chat gpt-4o"]
	if llm.Trace != jgTID(t, "5b8efff798038103d269b633813fc60c") || llm.Parent != 0xeee19b7ec3c1b174 ||
		llm.Flags&model.FlagError == 0 || llm.Kind != model.KindClient || llm.Attrs != "gen_ai.request.model=gpt-4o" {
		t.Errorf("llm %+v", llm)
	}
	if r := m["post /v1/chat"]; r.Attrs != "prompt.version=B" || r.Service != "chat-gateway" {
		t.Errorf("root %+v", r)
	}
	if c := m["process analytics.events"]; c.Kind != model.KindConsumer || c.End-c.Start != 40e6 {
		t.Errorf("consumer %+v", c)
	}
	if a := m["aggregate"]; a.Kind != model.KindInternal || a.Parent != 0xb7ad6b7169203331 {
		t.Errorf("internal %+v", a)
	}
}

// TestZipkinShared covers the pairing of CLIENT and SERVER halves that share
// one span ID.
func TestZipkinShared(t *testing.T) {
	const tr = "0000000000000000000000000000000a"
	client := func(extra string) string {
		return zkSpan(tr, "00000000000000c1", "0000000000000001", "CLIENT", "call", "front", 100, 50, extra)
	}
	server := func(extra string) string {
		return zkSpan(tr, "00000000000000c1", "0000000000000001", "SERVER", "serve", "back", 110, 30, extra)
	}
	root := zkSpan(tr, "0000000000000001", "", "SERVER", "root", "front", 90, 100, "")
	sh := zipkinSharedID(0xc1)
	cases := []struct {
		name    string
		doc     string
		parents map[string]model.SpanID // span name → parent
		ids     map[string]model.SpanID // span name → ID
	}{
		{
			name:    "flagged",
			doc:     zkDoc(root, client(""), server(`"shared":true`)),
			parents: map[string]model.SpanID{"call": 1, "serve": 0xc1},
			ids:     map[string]model.SpanID{"call": 0xc1, "serve": sh},
		},
		{
			name:    "unflagged, server first",
			doc:     zkDoc(server(""), root, client("")),
			parents: map[string]model.SpanID{"call": 1, "serve": 0xc1},
			ids:     map[string]model.SpanID{"call": 0xc1, "serve": sh},
		},
		{
			name: "children by service",
			doc: zkDoc(root, client(""), server(`"shared":true`),
				zkSpan(tr, "00000000000000d1", "00000000000000c1", "CLIENT", "back-db", "back", 115, 5, ""),
				zkSpan(tr, "00000000000000d2", "00000000000000c1", "", "front-timer", "front", 101, 2, ""),
				zkSpan(tr, "00000000000000d3", "00000000000000c1", "CONSUMER", "elsewhere", "third", 120, 5, ""),
				zkSpan(tr, "00000000000000d4", "00000000000000c1", "", "nameless", "", 120, 5, "")),
			parents: map[string]model.SpanID{"back-db": sh, "front-timer": 0xc1, "elsewhere": sh, "nameless": sh},
		},
		{
			name:    "server alone keeps its ID",
			doc:     zkDoc(root, server(`"shared":true`), zkSpan(tr, "00000000000000d1", "00000000000000c1", "", "kid", "back", 115, 5, "")),
			parents: map[string]model.SpanID{"serve": 1, "kid": 0xc1},
			ids:     map[string]model.SpanID{"serve": 0xc1},
		},
		{
			name:    "client without a duration does not pair",
			doc:     zkDoc(root, strings.Replace(client(""), `"duration":50`, `"duration":null`, 1), server(`"shared":true`)),
			parents: map[string]model.SpanID{"serve": 1},
			ids:     map[string]model.SpanID{"serve": 0xc1},
		},
		{
			name: "pairs are per trace",
			doc: zkDoc(root, client(""),
				zkSpan("0000000000000000000000000000000b", "00000000000000c1", "", "SERVER", "other-trace", "back", 110, 30, "")),
			ids: map[string]model.SpanID{"call": 0xc1, "other-trace": 0xc1},
		},
		{
			name: "a second server half stays a duplicate",
			doc: zkDoc(root, client(""), server(`"shared":true`),
				zkSpan(tr, "00000000000000c1", "0000000000000001", "SERVER", "serve-again", "back", 112, 3, `"shared":true`)),
			ids: map[string]model.SpanID{"serve": sh, "serve-again": 0xc1},
		},
		{
			name: "groups of an array of traces pair separately",
			doc:  "[" + zkDoc(root, client("")) + "," + zkDoc(server(`"shared":true`)) + "]",
			ids:  map[string]model.SpanID{"call": 0xc1, "serve": 0xc1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := jgLoad(t, c.doc)
			m := jgByName(t, ds)
			for name, want := range c.parents {
				if got := m[name].Parent; got != want {
					t.Errorf("%s: parent %s, want %s", name, got, want)
				}
			}
			for name, want := range c.ids {
				if got := m[name].ID; got != want {
					t.Errorf("%s: ID %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestZipkinSharedID(t *testing.T) {
	seen := map[model.SpanID]bool{}
	for _, id := range []model.SpanID{0, 1, 2, 0xc1, 0xffffffffffffffff, 0x4d1e00c0db9010db} {
		d := zipkinSharedID(id)
		if d == 0 || d == id || seen[d] {
			t.Errorf("zipkinSharedID(%s) = %s", id, d)
		}
		seen[d] = true
		if zipkinSharedID(id) != d {
			t.Error("not deterministic")
		}
	}
}

func TestZipkinFields(t *testing.T) {
	const tr = "5b8efff798038103d269b633813fc60c"
	doc := zkDoc(
		// Upper-case hex, a 16-digit trace ID, times as strings, tag values
		// of other types, an escaped tag key, unknown fields.
		`{"traceId":"`+strings.ToUpper(tr)+`","id":"ABCDEF0123456789","name":"upper","kind":"client","timestamp":"1000","duration":"20",`+
			`"localEndpoint":{"serviceName":"svc","port":80},"tags":{"n":1,"b":true,"error":"false","x\u002ey":"kept","obj":{"a":1},"nul":null},"extra":[1,{"a":[]}]}`,
		zkSpan("d269b633813fc60c", "0000000000000002", "", "PRODUCER", "short trace", "svc", 1000, 10, ""),
		// A span with no service, no name and no kind.
		`{"traceId":"`+tr+`","id":"0000000000000003","timestamp":5,"duration":1}`,
		// shared:false, null fields.
		`{"traceId":"`+tr+`","id":"0000000000000004","parentId":null,"name":"nulls","kind":null,"timestamp":5,"duration":1,"localEndpoint":null,"tags":null,"shared":false}`,
	)
	ds := jgLoad(t, doc, "n", "b", "x.y", "obj")
	m := jgByName(t, ds)
	u := m["upper"]
	if u.Trace != jgTID(t, tr) || u.ID != 0xabcdef0123456789 || u.Kind != model.KindClient || u.Start != 1e6 || u.End != 1.02e6 {
		t.Errorf("upper %+v", u)
	}
	if u.Flags&model.FlagError != 0 || u.Attrs != "b=true, n=1, x.y=kept" {
		t.Errorf("upper flags %v attrs %q", u.Flags, u.Attrs)
	}
	if s := m["short trace"]; s.Trace != jgTID(t, "0000000000000000d269b633813fc60c") || s.Kind != model.KindProducer {
		t.Errorf("short %+v", s)
	}
	if ds.Warnings.Count(model.WarnMissingService) != 2 {
		t.Errorf("warnings %+v", ds.Warnings.List())
	}
	if s := m[""]; s.Service != "unknown" || s.Kind != model.KindUnspecified {
		t.Errorf("bare %+v", s)
	}
}

func TestZipkinWarnings(t *testing.T) {
	const tr = "5b8efff798038103d269b633813fc60c"
	doc := zkDoc(
		zkSpan(tr, "0000000000000001", "", "SERVER", "fine", "svc", 1000, 10, ""),
		`{"traceId":"`+tr+`","id":"0000000000000002","name":"no duration","timestamp":1000,"localEndpoint":{"serviceName":"svc"}}`,
		`{"traceId":"`+tr+`","id":"0000000000000003","name":"no timestamp","duration":10,"localEndpoint":{"serviceName":"svc"}}`,
		zkSpan(tr, "0000000000000004", "", "", "zero timestamp", "svc", 0, 10, ""),
		zkSpan(tr, "0000000000000005", "", "", "zero duration", "svc", 1000, 0, ""),
		zkSpan(tr, "0000000000000006", "", "", "backwards", "svc", 1000, -5, ""),
		zkSpan("zz", "0000000000000007", "", "", "bad trace", "svc", 1000, 5, ""),
		zkSpan(tr, "xyz", "", "", "bad id", "svc", 1000, 5, ""),
		zkSpan(tr, "0000000000000009", "12345678901234567", "", "long parent", "svc", 1000, 5, ""),
		`{"traceId":"`+tr+`","id":"000000000000000a","name":"bad time","timestamp":"soon","duration":5}`,
		`{"traceId":"`+tr+`","id":"000000000000000b","name":"huge","timestamp":99999999999999999,"duration":5}`,
		`{"traceId":"`+tr+`","name":"no id","timestamp":1,"duration":5}`,
		`{"traceId":7,"id":"000000000000000c","name":"numeric trace","timestamp":1,"duration":5}`,
	)
	ds := jgLoad(t, doc)
	if ds.Spans != 2 {
		t.Errorf("kept %d spans, want 2: %+v", ds.Spans, jgSpans(ds))
	}
	want := map[string]int{model.WarnMissingTime: 4, model.WarnEndBeforeStart: 1, model.WarnBadSpan: 7}
	for k, n := range want {
		if got := ds.Warnings.Count(k); got != n {
			t.Errorf("%s: %d, want %d (%+v)", k, got, n, ds.Warnings.List())
		}
	}
	ex := ds.Warnings.List()
	for _, w := range ex {
		if !strings.HasPrefix(w.Example, "test.json: ") || !strings.Contains(w.Example, "byte ") {
			t.Errorf("example without a place: %q", w.Example)
		}
	}
}

func TestZipkinMalformed(t *testing.T) {
	full, err := os.ReadFile("testdata/zipkin/trace.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, doc, want string }{
		{"truncated", string(full[:len(full)/2]), "byte "},
		{"number in the array", `[{"traceId":"01","id":"01","timestamp":1,"duration":1},3]`, "a Zipkin span object or an array of spans"},
		{"number in a trace", `[[{"traceId":"01","id":"01","timestamp":1,"duration":1},3]]`, "a Zipkin span object"},
		{"tags not an object", `[{"traceId":"01","id":"01","tags":[]}]`, `an object of tags as "tags"`},
		{"endpoint not an object", `[{"traceId":"01","id":"01","localEndpoint":"svc"}]`, `an endpoint object`},
		{"missing colon in tags", `[{"traceId":"01","id":"01","tags":{"a" "b"}}]`, "':'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadReader(context.Background(), "z.json", strings.NewReader(c.doc), Options{})
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "z.json: ") || !strings.Contains(err.Error(), "byte ") {
				t.Fatalf("error %v, want a syntax error with %q", err, c.want)
			}
		})
	}
	// Valid JSON with nothing usable is "no spans", not a crash.
	for _, doc := range []string{`[[]]`, `[null]`, `[[null]]`, `[{"traceId":"01"}]`} {
		if _, err := LoadReader(context.Background(), "z.json", strings.NewReader(doc), Options{}); err == nil {
			t.Errorf("%s: loaded", doc)
		}
	}
}

// zkLoadSorted loads b and returns its spans at µs precision sorted by trace
// and ID, failing on any warning.
func zkLoadSorted(t *testing.T, name string, b []byte, keep []string) []jgSpan {
	t.Helper()
	ds, err := LoadReader(context.Background(), name, bytes.NewReader(b), Options{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	if n := ds.Warnings.Total(); n != 0 {
		t.Fatalf("%s: %d warnings: %+v", name, n, ds.Warnings.List())
	}
	spans := jgSpans(ds)
	for i := range spans {
		spans[i].Start /= 1000
		spans[i].End /= 1000
	}
	sort.Slice(spans, func(i, j int) bool {
		if c := bytes.Compare(spans[i].Trace[:], spans[j].Trace[:]); c != 0 {
			return c < 0
		}
		return spans[i].ID < spans[j].ID
	})
	return spans
}

var zkKeep = []string{"gen_ai.request.model", "gen_ai.usage.input_tokens", "http.response.status_code", "service.version", "deployment.environment.name"}

// TestZipkinMatchesOTLP reads the same generated traces as Collector JSON
// Lines and as Zipkin v2 JSON and expects the same spans at µs precision.
func TestZipkinMatchesOTLP(t *testing.T) {
	cfg := synth.Config{Requests: 60, Seed: 11, ErrorRate: 0.25}
	var otlp, zipkin bytes.Buffer
	no, err := synth.WriteJSONL(&otlp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	nz, err := synth.WriteZipkin(&zipkin, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if no != nz {
		t.Fatalf("%d OTLP spans, %d Zipkin spans written", no, nz)
	}
	o, z := zkLoadSorted(t, "otlp.jsonl", otlp.Bytes(), zkKeep), zkLoadSorted(t, "zipkin.json", zipkin.Bytes(), zkKeep)
	if len(o) != no || len(z) != nz {
		t.Fatalf("loaded %d OTLP and %d Zipkin spans, want %d", len(o), len(z), no)
	}
	errs := 0
	for i := range o {
		if o[i] != z[i] {
			t.Fatalf("span %d differs:\n  OTLP %+v\nZipkin %+v", i, o[i], z[i])
		}
		if o[i].Flags&model.FlagError != 0 {
			errs++
		}
	}
	if errs == 0 || !strings.Contains(o[0].Attrs, "service.version=") {
		t.Fatalf("the comparison lacks error spans (%d) or kept attributes (%q)", errs, o[0].Attrs)
	}
}

// TestZipkinSharedMatchesOTLP writes the traces with B3 shared span IDs and
// expects the same spans as OTLP but for the server halves' derived IDs.
func TestZipkinSharedMatchesOTLP(t *testing.T) {
	cfg := synth.Config{Requests: 30, Seed: 5, ErrorRate: 0.2}
	var otlp, zipkin bytes.Buffer
	if _, err := synth.WriteJSONL(&otlp, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteZipkin(&zipkin, cfg, true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(zipkin.Bytes(), []byte(`"shared":true`)) {
		t.Fatal("no shared spans written")
	}
	o, z := zkLoadSorted(t, "otlp.jsonl", otlp.Bytes(), zkKeep), zkLoadSorted(t, "zipkin.json", zipkin.Bytes(), zkKeep)
	if len(o) != len(z) {
		t.Fatalf("%d OTLP spans, %d Zipkin spans", len(o), len(z))
	}
	// Map each OTLP span ID to the ID the Zipkin reader gives it: a server
	// span whose parent is a client gets the derived ID of that client.
	byID := map[model.SpanID]jgSpan{}
	for _, s := range o {
		byID[s.ID] = s
	}
	mapped := func(id model.SpanID) model.SpanID {
		s, ok := byID[id]
		if ok && s.Kind == model.KindServer && s.Parent != 0 && byID[s.Parent].Kind == model.KindClient {
			return zipkinSharedID(s.Parent)
		}
		return id
	}
	want := make([]jgSpan, len(o))
	for i, s := range o {
		s.ID, s.Parent = mapped(s.ID), mapped(s.Parent)
		want[i] = s
	}
	key := func(s []jgSpan) {
		sort.Slice(s, func(i, j int) bool {
			if c := bytes.Compare(s[i].Trace[:], s[j].Trace[:]); c != 0 {
				return c < 0
			}
			return s[i].ID < s[j].ID
		})
	}
	key(want)
	shared := 0
	for i := range want {
		if want[i] != z[i] {
			t.Fatalf("span %d differs:\n  want %+v\nZipkin %+v", i, want[i], z[i])
		}
		if z[i].ID != o[i].ID {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("no server half got a derived ID")
	}
}

// zkSeeds are small inputs for the fuzzer besides the fixture files.
var zkSeeds = []string{
	zkDoc(zkSpan(zkTrace, "00000000000000c1", "", "CLIENT", "a", "x", 1, 2, ""), zkSpan(zkTrace, "00000000000000c1", "", "SERVER", "b", "y", 1, 2, `"shared":true`)),
	`[[{"traceId":"01","id":"01","timestamp":"1","duration":1e3,"tags":{"error":""}}],[],null]`,
	`[{"traceId":"0af7651916cd43dd8448eb211c80319c","id":"b7ad6b7169203331","parentId":"","tags":{"span.kind":"internal"},"timestamp":1,"duration":1}]`,
}

func FuzzZipkinJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/zipkin/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range zkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, "http.route", "error") })
}

var (
	zkBenchOnce  sync.Once
	zkBenchDoc   []byte
	zkBenchSpans int
)

// BenchmarkZipkinJSON reads a generated Zipkin document of about 20,000
// spans (an array of traces, shared span IDs) with the decoder alone on one
// goroutine, and through LoadReader.
func BenchmarkZipkinJSON(b *testing.B) {
	zkBenchOnce.Do(func() {
		var doc bytes.Buffer
		n, err := synth.WriteZipkin(&doc, synth.Config{Requests: 20_000 / synth.SpansPerRequest, Seed: 7}, true)
		if err != nil {
			b.Fatal(err)
		}
		zkBenchDoc, zkBenchSpans = doc.Bytes(), n
	})
	b.Run("decode", func(b *testing.B) { benchDecode(b, zkBenchDoc, zkBenchSpans) })
	b.Run("load", func(b *testing.B) { benchLoad(b, zkBenchDoc, zkBenchSpans) })
}

// TestZipkinFlatArray: the traces of an array of traces, written as one
// flat array of spans, pair the same way (the whole array is one group).
func TestZipkinFlatArray(t *testing.T) {
	g := synth.New(synth.Config{Requests: 400, Seed: 8})
	var nested, flat bytes.Buffer
	nested.WriteByte('[')
	flat.WriteByte('[')
	for i := range 400 {
		tr := synth.AppendZipkinTrace(nil, g.Next(), true)
		if i > 0 {
			nested.WriteByte(',')
			flat.WriteByte(',')
		}
		nested.Write(tr)
		flat.Write(tr[1 : len(tr)-1])
	}
	nested.WriteByte(']')
	flat.WriteByte(']')
	a, b := zkLoadSorted(t, "nested.json", nested.Bytes(), nil), zkLoadSorted(t, "flat.json", flat.Bytes(), nil)
	if len(a) != len(b) || len(a) < 400*20 {
		t.Fatalf("%d and %d spans", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("span %d differs:\nnested %+v\n  flat %+v", i, a[i], b[i])
		}
	}
}
