package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/spantest"
	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// jgSpan is a loaded span with its names resolved, for comparisons.
type jgSpan = spantest.Span

func jgLoad(t testing.TB, doc string, keep ...string) *model.Dataset {
	t.Helper()
	ds, err := LoadReader(context.Background(), "test.json", strings.NewReader(doc), Options{Keep: keep})
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	return ds
}

// jgSpans returns the dataset's spans sorted by trace, start and ID.
func jgSpans(ds *model.Dataset) []jgSpan { return spantest.List(ds) }

// jgByName returns the spans by operation name, which tests keep unique.
func jgByName(t testing.TB, ds *model.Dataset) map[string]jgSpan {
	t.Helper()
	m := map[string]jgSpan{}
	for _, s := range jgSpans(ds) {
		if _, dup := m[s.Name]; dup {
			t.Fatalf("two spans named %q", s.Name)
		}
		m[s.Name] = s
	}
	return m
}

// jgTID is the TraceID of hex text, right-aligned.
func jgTID(t testing.TB, s string) model.TraceID {
	t.Helper()
	var id model.TraceID
	if !decodeHexID(id[:], []byte(s)) {
		t.Fatalf("bad test trace ID %q", s)
	}
	return id
}

// jgDoc wraps span objects in one trace with processes p1 (svc) and p2
// (other), in a {"data":[…]} envelope.
func jgDoc(spans ...string) string {
	return `{"data":[{"traceID":"1","spans":[` + strings.Join(spans, ",") +
		`],"processes":{"p1":{"serviceName":"svc","tags":[]},"p2":{"serviceName":"other","tags":[]}}}]}`
}

// jgOneSpan is a span of trace 1 named op; extra holds more fields.
func jgOneSpan(id, extra string) string {
	s := `{"traceID":"1","spanID":"` + id + `","operationName":"op` + id + `","startTime":1000,"duration":10,"processID":"p1"`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// The same two-span trace in every envelope the Jaeger UI accepts.
const jgTrace = `{"traceID":"1f2e3d4c5b6a7988","spans":[` +
	`{"traceID":"1f2e3d4c5b6a7988","spanID":"0000000000000001","operationName":"GET /","references":[],"startTime":1700000000000000,"duration":2000,"processID":"p1","tags":[{"key":"span.kind","type":"string","value":"server"}]},` +
	`{"traceID":"1f2e3d4c5b6a7988","spanID":"0000000000000002","operationName":"SELECT","references":[{"refType":"CHILD_OF","traceID":"1f2e3d4c5b6a7988","spanID":"0000000000000001"}],"startTime":1700000000000500,"duration":1000,"processID":"p2","tags":[{"key":"span.kind","type":"string","value":"client"}]}` +
	`],"processes":{"p1":{"serviceName":"web","tags":[]},"p2":{"serviceName":"db","tags":[]}},"warnings":null}`

func TestJaegerEnvelopes(t *testing.T) {
	pretty := strings.NewReplacer(`,"`, ",\n  \"", `[{`, "[\n{").Replace(jgTrace)
	cases := []struct{ name, doc string }{
		{"data array", `{"data":[` + jgTrace + `],"total":0,"limit":0,"offset":0,"errors":null}`},
		{"data object", `{"data":` + jgTrace + `}`},
		{"bare array", `[` + jgTrace + `]`},
		{"single trace", jgTrace},
		{"data after other keys", `{"total":1,"limit":0,"errors":null,"data":[` + jgTrace + `]}`},
		{"pretty data array", "{\n\"data\": [\n" + pretty + "\n]\n}\n"},
		{"pretty single trace", pretty + "\n"},
		{"null traces in the array", `{"data":[null,` + jgTrace + `,null]}`},
	}
	trace := jgTID(t, "1f2e3d4c5b6a7988")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := jgLoad(t, c.doc)
			got := jgSpans(ds)
			want := []jgSpan{
				{Trace: trace, ID: 1, Start: 1700000000000000000, End: 1700000000002000000, Service: "web", Name: "GET /", Kind: model.KindServer},
				{Trace: trace, ID: 2, Parent: 1, Start: 1700000000000500000, End: 1700000000001500000, Service: "db", Name: "SELECT", Kind: model.KindClient},
			}
			if !slices.Equal(got, want) {
				t.Fatalf("spans:\n got %+v\nwant %+v", got, want)
			}
			if ds.Inputs[0].Format != "jaeger-json" {
				t.Errorf("format %q, want jaeger-json", ds.Inputs[0].Format)
			}
			if n := ds.Warnings.Total(); n != 0 {
				t.Errorf("%d warnings: %+v", n, ds.Warnings.List())
			}
		})
	}
}

func TestJaegerProcesses(t *testing.T) {
	span := func(id, proc string) string {
		return `{"traceID":"1","spanID":"` + id + `","operationName":"op` + id + `","startTime":1,"duration":1` + proc + `}`
	}
	procs := `"processes":{"p1":{"serviceName":"before-or-after","tags":[{"key":"host.name","type":"string","value":"h1"}]},"p\u0032":{"serviceName":"svc\u002d2"}}`
	cases := []struct {
		name, doc string
		want      map[string]string // operation name → service, attributes
	}{
		{"before spans", `{"traceID":"1",` + procs + `,"spans":[` + span("1", `,"processID":"p1"`) + `]}`,
			map[string]string{"op1": "before-or-after host.name=h1"}},
		{"after spans", `{"traceID":"1","spans":[` + span("1", `,"processID":"p1"`) + `,` + span("2", `,"processID":"p2"`) + `],` + procs + `}`,
			map[string]string{"op1": "before-or-after host.name=h1", "op2": "svc-2 "}},
		{"embedded only", `{"traceID":"1","spans":[` + span("1", `,"process":{"serviceName":"emb","tags":[{"key":"host.name","type":"string","value":"e1"}]}`) + `]}`,
			map[string]string{"op1": "emb host.name=e1"}},
		{"processID wins over embedded", `{"traceID":"1","spans":[` + span("1", `,"process":{"serviceName":"emb"},"processID":"p1"`) + `],` + procs + `}`,
			map[string]string{"op1": "before-or-after host.name=h1"}},
		{"embedded when processID is unknown", `{"traceID":"1","spans":[` + span("1", `,"processID":"p9","process":{"serviceName":"emb"}`) + `],` + procs + `}`,
			map[string]string{"op1": "emb "}},
		{"span tag over process tag", `{"traceID":"1","spans":[` + span("1", `,"processID":"p1","tags":[{"key":"host.name","type":"string","value":"span-host"}]`) + `],` + procs + `}`,
			map[string]string{"op1": "before-or-after host.name=span-host"}},
		{"null processes", `{"traceID":"1","processes":null,"spans":[` + span("1", `,"process":{"serviceName":"emb","tags":null}`) + `]}`,
			map[string]string{"op1": "emb "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := jgLoad(t, c.doc, "host.name")
			got := map[string]string{}
			for _, s := range jgSpans(ds) {
				got[s.Name] = s.Service + " " + s.Attrs
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if n := ds.Warnings.Total(); n != 0 {
				t.Errorf("%d warnings: %+v", n, ds.Warnings.List())
			}
		})
	}

	t.Run("unknown processID", func(t *testing.T) {
		ds := jgLoad(t, `{"traceID":"1","spans":[`+span("1", `,"processID":"nope"`)+`],`+procs+`}`)
		if s := jgSpans(ds)[0]; s.Service != "unknown" {
			t.Errorf("service %q, want unknown", s.Service)
		}
		if ds.Warnings.Count(model.WarnMissingService) != 1 {
			t.Errorf("warnings %+v, want one %s", ds.Warnings.List(), model.WarnMissingService)
		}
	})

	t.Run("many processes", func(t *testing.T) {
		// More processes than the linear search handles: the index is used.
		var spans, ps []string
		for i := range 40 {
			spans = append(spans, span(fmt.Sprintf("%x", i+1), fmt.Sprintf(`,"processID":"p%d"`, i)))
			ps = append(ps, fmt.Sprintf(`"p%d":{"serviceName":"svc%d"}`, i, i))
		}
		ds := jgLoad(t, `{"traceID":"1","spans":[`+strings.Join(spans, ",")+`],"processes":{`+strings.Join(ps, ",")+`}}`)
		for _, s := range jgSpans(ds) {
			if want := fmt.Sprintf("svc%d", s.ID-1); s.Service != want {
				t.Errorf("span %d: service %q, want %q", s.ID, s.Service, want)
			}
		}
		if ds.Spans != 40 || ds.Warnings.Total() != 0 {
			t.Errorf("%d spans, warnings %+v", ds.Spans, ds.Warnings.List())
		}
	})
}

func TestJaegerTags(t *testing.T) {
	ds, err := Load(context.Background(), []string{"testdata/jaeger/envelope.json"}, Options{Keep: []string{
		"http.route", "http.response.status_code", "sampler.param", "sampling.ratio", "big.counter",
		"payload", "note", "host.name", "service.version", "gen_ai.request.model", "absent",
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := jgByName(t, ds)
	want := map[string]string{
		"POST /v1/chat": `big.counter=9007199254740993, host.name=gw-1, http.response.status_code=200, http.route=/v1/chat, ` +
			"note=say \"hi\"\n, payload=aGVsbG8=, sampler.param=true, sampling.ratio=0.25, service.version=1.4.2",
		"chat gpt-4o":              "gen_ai.request.model=gpt-4o, host.name=llm-7",
		"analytics.events process": "",
	}
	for name, attrs := range want {
		if got := m[name].Attrs; got != attrs {
			t.Errorf("%s: attributes\n got %q\nwant %q", name, got, attrs)
		}
	}

	// Key, type and value in any order; null values and unknown types.
	ds = jgLoad(t, jgDoc(jgOneSpan("1", `"tags":[`+
		`{"value":"late key","type":"string","key":"a"},`+
		`{"key":"b","value":null},`+
		`{"key":"c","type":"int64","value":-42},`+
		`{"key":"d","type":"float64","value":1e-7},`+
		`{"key":"e","type":"bool","value":false},`+
		`{"type":"string","value":"no key"},`+
		`null,`+
		`{"key":"f","type":"string","value":"\u00e9t\u00e9"}]`)), "a", "b", "c", "d", "e", "f")
	if got, want := jgSpans(ds)[0].Attrs, "a=late key, c=-42, d=1e-7, e=false, f=été"; got != want {
		t.Errorf("attributes %q, want %q", got, want)
	}
}

func TestJaegerSpanKind(t *testing.T) {
	cases := []struct {
		tag  string
		want model.Kind
	}{
		{`{"key":"span.kind","type":"string","value":"server"}`, model.KindServer},
		{`{"key":"span.kind","type":"string","value":"client"}`, model.KindClient},
		{`{"key":"span.kind","type":"string","value":"producer"}`, model.KindProducer},
		{`{"key":"span.kind","type":"string","value":"consumer"}`, model.KindConsumer},
		{`{"key":"span.kind","type":"string","value":"internal"}`, model.KindInternal},
		{`{"key":"span.kind","type":"string","value":"SERVER"}`, model.KindServer},
		{`{"key":"span.kind","type":"string","value":"SPAN_KIND_CLIENT"}`, model.KindClient},
		{`{"key":"span.kind","type":"string","value":"rpc"}`, model.KindUnspecified},
		{`{"key":"span.kind","type":"int64","value":2}`, model.KindUnspecified},
		{`{"key":"kind","type":"string","value":"server"}`, model.KindUnspecified},
		{``, model.KindUnspecified},
	}
	for _, c := range cases {
		ds := jgLoad(t, jgDoc(jgOneSpan("1", `"tags":[`+c.tag+`]`)))
		if got := jgSpans(ds)[0].Kind; got != c.want {
			t.Errorf("%s: kind %v, want %v", c.tag, got, c.want)
		}
	}
}

func TestJaegerErrorTags(t *testing.T) {
	cases := []struct {
		tags string
		want bool
	}{
		{`{"key":"error","type":"bool","value":true}`, true},
		{`{"key":"error","type":"string","value":"true"}`, true},
		{`{"key":"error","type":"bool","value":false}`, false},
		{`{"key":"error","type":"string","value":"false"}`, false},
		{`{"key":"otel.status_code","type":"string","value":"ERROR"}`, true},
		{`{"key":"otel.status_code","type":"string","value":"OK"}`, false},
		{`{"key":"error.object","type":"string","value":"boom"},{"key":"http.status_code","type":"int64","value":500}`, false},
		{``, false},
	}
	for _, c := range cases {
		ds := jgLoad(t, jgDoc(jgOneSpan("1", `"tags":[`+c.tags+`]`)))
		if got := jgSpans(ds)[0].Flags&model.FlagError != 0; got != c.want {
			t.Errorf("%s: error %v, want %v", c.tags, got, c.want)
		}
	}
}

func TestJaegerParents(t *testing.T) {
	ref := func(typ, id string) string {
		return `{"refType":"` + typ + `","traceID":"1","spanID":"` + id + `"}`
	}
	refs := func(r ...string) string { return `"references":[` + strings.Join(r, ",") + `]` }
	other := "ffffffffffffffffffffffffffffffff"
	doc := jgDoc(
		jgOneSpan("1", refs()),
		jgOneSpan("2", refs(ref("CHILD_OF", "1"))),
		jgOneSpan("3", refs(ref("FOLLOWS_FROM", "1"))),
		jgOneSpan("4", refs(ref("FOLLOWS_FROM", "2"), ref("CHILD_OF", "1"))),
		jgOneSpan("5", refs(ref("CHILD_OF", "2"), ref("CHILD_OF", "1"))),
		jgOneSpan("6", `"parentSpanID":"2"`),
		jgOneSpan("7", `"parentSpanID":"1",`+refs(ref("CHILD_OF", "2"))),
		jgOneSpan("8", refs(`{"refType":"CHILD_OF","traceID":"`+other+`","spanID":"9"}`)),
		jgOneSpan("9", `"parentSpanID":"0",`+refs()),
		jgOneSpan("a", refs(`{"refType":"FOLLOWS_FROM","spanID":"1"}`)),
		jgOneSpan("b", refs(`{"spanID":"2","refType":"CHILD_OF","span":{"spanID":"2","references":[{"spanID":"1"}]}}`)),
		jgOneSpan("c", `"parentSpanID":null,"references":null`),
		jgOneSpan("d", refs(`{"refType":"SOMETHING","traceID":"1","spanID":"2"}`, `{"refType":"CHILD_OF","spanID":""}`, ref("CHILD_OF", "1"))),
	)
	ds := jgLoad(t, doc)
	type pf struct {
		parent  model.SpanID
		follows bool
		linked  bool
	}
	want := map[model.SpanID]pf{
		1: {}, 2: {parent: 1}, 3: {parent: 1, follows: true}, 4: {parent: 1, linked: true},
		5: {parent: 2, linked: true}, 6: {parent: 2}, 7: {parent: 2}, 8: {linked: true},
		9: {}, 0xa: {parent: 1, follows: true}, 0xb: {parent: 2}, 0xc: {}, 0xd: {parent: 1, linked: true},
	}
	got := map[model.SpanID]pf{}
	for _, s := range jgSpans(ds) {
		got[s.ID] = pf{s.Parent, s.Flags&model.FlagFollowsFrom != 0, s.Flags&model.FlagLinked != 0}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parents:\n got %v\nwant %v", got, want)
	}
	trace := jgTID(t, "1")
	links := slices.Clone(ds.Links)
	sort.Slice(links, func(i, j int) bool { return links[i].From < links[j].From })
	wantLinks := []model.Link{
		{Trace: trace, From: 4, ToTrace: trace, To: 2},
		{Trace: trace, From: 5, ToTrace: trace, To: 1},
		{Trace: trace, From: 8, ToTrace: jgTID(t, other), To: 9},
		{Trace: trace, From: 0xd, ToTrace: trace, To: 2},
	}
	if !slices.Equal(links, wantLinks) {
		t.Errorf("links:\n got %+v\nwant %+v", links, wantLinks)
	}
}

func TestJaegerIDs(t *testing.T) {
	const id32 = "0af7651916cd43dd8448eb211c80319c"
	span := func(trace, id, parent string) string {
		s := `{"traceID":"` + trace + `","spanID":"` + id + `","operationName":"op-` + id + `","startTime":1,"duration":1,"processID":"p1"`
		if parent != "" {
			s += `,"references":[{"refType":"CHILD_OF","traceID":"` + trace + `","spanID":"` + parent + `"}]`
		}
		return s + "}"
	}
	trace := func(id string, spans ...string) string {
		return `{"traceID":"` + id + `","spans":[` + strings.Join(spans, ",") + `],"processes":{"p1":{"serviceName":"s"}}}`
	}

	t.Run("31-char hex equals 32-char", func(t *testing.T) {
		ds := jgLoad(t, `[`+trace(id32, span(id32, "b7ad6b7169203331", ""))+`,`+
			trace(id32[1:], span(id32[1:], "00f067aa0ba902b7", "b7ad6b7169203331"))+`,`+
			trace(strings.ToUpper(id32), span(strings.ToUpper(id32), "00F067AA0BA902B8", "b7ad6b7169203331"))+`]`)
		spans := jgSpans(ds)
		for _, s := range spans {
			if s.Trace.String() != id32 || ds.TraceText(s.Trace) != id32 {
				t.Errorf("span %s: trace %s (text %q), want %s", s.ID, s.Trace, ds.TraceText(s.Trace), id32)
			}
		}
		if spans[0].Parent != 0xb7ad6b7169203331 || spans[1].ID != 0x00f067aa0ba902b8 || spans[1].Parent != 0xb7ad6b7169203331 {
			t.Errorf("spans %+v", spans)
		}
		if len(ds.IDText) != 0 {
			t.Errorf("IDText %v, want none for hex IDs", ds.IDText)
		}
	})

	t.Run("64-bit trace ID is right-aligned", func(t *testing.T) {
		ds := jgLoad(t, jgTrace)
		if got := jgSpans(ds)[0].Trace.String(); got != "00000000000000001f2e3d4c5b6a7988" {
			t.Errorf("trace %s", got)
		}
	})

	t.Run("opaque", func(t *testing.T) {
		long := strings.Repeat("ab", 20) // hex, but longer than 32
		ds := jgLoad(t, `[`+trace("A", span("A", "A", ""), span("A", "B", "A"), span("A", "G", "B"), span("A", "span-one", "G"))+`,`+
			trace("trace-two", span("trace-two", "A", ""))+`,`+
			trace(long, span(long, "A", ""))+`]`)
		texts := map[string]bool{}
		ids := map[model.SpanID]string{}
		for _, s := range jgSpans(ds) {
			texts[ds.TraceText(s.Trace)] = true
			if s.ID == 0 {
				t.Errorf("span %s: zero ID", s.Name)
			}
			if ds.TraceText(s.Trace) == "A" {
				if prev, dup := ids[s.ID]; dup {
					t.Errorf("spans %s and %s share ID %s", prev, s.Name, s.ID)
				}
				ids[s.ID] = s.Name
			}
		}
		if want := map[string]bool{"A": true, "trace-two": true, long: true}; fmt.Sprint(texts) != fmt.Sprint(want) {
			t.Errorf("trace texts %v, want %v", texts, want)
		}
		m := map[string]jgSpan{}
		for _, s := range jgSpans(ds) {
			if ds.TraceText(s.Trace) == "A" {
				m[s.Name] = s
			}
		}
		if m["op-B"].Parent != m["op-A"].ID || m["op-G"].Parent != m["op-B"].ID || m["op-span-one"].Parent != m["op-G"].ID || m["op-A"].Parent != 0 {
			t.Errorf("parents wrong: %+v", m)
		}
		if ds.Spans != 6 || ds.Warnings.Total() != 0 {
			t.Errorf("%d spans, warnings %+v", ds.Spans, ds.Warnings.List())
		}
	})

	t.Run("hashes", func(t *testing.T) {
		for _, s := range []string{"", "A", "trace-two", strings.Repeat("x", 100)} {
			h := fnv.New128a()
			h.Write([]byte(s))
			var want model.TraceID
			copy(want[:], h.Sum(nil))
			if got := jaegerHash128([]byte(s)); got != want {
				t.Errorf("hash128(%q) = %s, want %s", s, got, want)
			}
			h64 := fnv.New64a()
			h64.Write([]byte(s))
			if got := jaegerHash64([]byte(s)); got != h64.Sum64() {
				t.Errorf("hash64(%q) = %x, want %x", s, got, h64.Sum64())
			}
		}
		if jaegerSpanID([]byte("G")) == 0 || jaegerSpanID([]byte("0")) != 0 || jaegerSpanID([]byte("ff")) != 0xff {
			t.Error("jaegerSpanID")
		}
	})
}

func TestJaegerLookupErrors(t *testing.T) {
	ds, err := Load(context.Background(), []string{"testdata/jaeger/lookup-errors.json"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spans != 1 {
		t.Errorf("%d spans, want 1", ds.Spans)
	}
	if n := ds.Warnings.Count(WarnTraceLookup); n != 2 {
		t.Fatalf("%d %s warnings, want 2: %+v", n, WarnTraceLookup, ds.Warnings.List())
	}
	ex := ds.Warnings.List()[0].Example
	for _, want := range []string{"lookup-errors.json: byte ", "0000000000000000000000000000beef", "trace not found", "404"} {
		if !strings.Contains(ex, want) {
			t.Errorf("example %q lacks %q", ex, want)
		}
	}

	// Shapes that are not Jaeger's errors list are passed over.
	for _, errs := range []string{`null`, `"oops"`, `{"a":1}`, `[1,"x",null,{"msg":"no id"}]`} {
		ds := jgLoad(t, `{"errors":`+errs+`,"data":[`+jgTrace+`]}`)
		if ds.Spans != 2 {
			t.Errorf("errors %s: %d spans", errs, ds.Spans)
		}
	}
}

func TestJaegerMalformed(t *testing.T) {
	full, err := os.ReadFile("testdata/jaeger/envelope.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, doc, want string }{
		{"truncated file", string(full[:len(full)/2]), "test.json: byte "},
		{"truncated in a string", string(full[:bytes.Index(full, []byte("chat gpt"))]), "end of a string"},
		{"data is a string", `{"data":"x"}`, `value of "data"`},
		{"data holds numbers", `{"data":[5]}`, "expected a Jaeger trace object, found '5'"},
		{"spans is a number", `{"data":[{"traceID":"1","spans":5}]}`, `expected an array of spans as "spans", found '5'`},
		{"processes is a list", `{"data":[{"traceID":"1","spans":[],"processes":[]}]}`, `expected an object of processes as "processes"`},
		{"tags is a string", jgDoc(jgOneSpan("1", `"tags":"x"`)), `expected an array of tags as "tags"`},
		{"references is an object", jgDoc(jgOneSpan("1", `"references":{}`)), `expected an array of references`},
		{"missing value", `[{"traceID":"1","spans":[{"spanID":}]}]`, "expected a value"},
		{"missing comma", "{\"data\":[{\"traceID\":\"1\"\n\"spans\":[]}]}", "expected ',' or '}'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadReader(context.Background(), "test.json", strings.NewReader(c.doc), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Where, "test.json: ") {
				t.Errorf("error %q (%T) does not say where", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}

	// Unusable fields make the span a counted warning; the rest is read.
	doc := "{\"data\":[{\"traceID\":\"1\",\"spans\":[\n" + strings.Join([]string{
		jgOneSpan("1", ""),
		jgOneSpan("2", `"startTime":"abc"`),
		jgOneSpan("3", `"startTime":1.5`),
		jgOneSpan("4", `"duration":{}`),
		`{"traceID":"1","spanID":42,"operationName":"numeric id","startTime":1,"duration":1}`,
		jgOneSpan("6", `"startTime":1e300`),
		jgOneSpan("7", `"startTime":9000000000000000000`),
		jgOneSpan("8", `"duration":9000000000000000000`),
		`{"traceID":"1","spanID":"9","operationName":"no duration","startTime":1}`,
		`{"traceID":"1","spanID":"a","operationName":"null start","startTime":null,"duration":1}`,
		jgOneSpan("b", `"duration":-5`),
		`{"traceID":"1","operationName":"no span ID","startTime":1,"duration":1}`,
		`{"traceID":["1"],"spanID":"d","operationName":"list trace ID","startTime":1,"duration":1}`,
		`{"traceID":"1","spanID":"e","operationName":"x","startTime":1,"duration":1,"references":[{"refType":"CHILD_OF","spanID":7}]}`,
		`{"spanID":"f","operationName":"trace ID from the trace","startTime":1,"duration":1,"processID":"p1"}`,
	}, ",\n") + "],\"processes\":{\"p1\":{\"serviceName\":\"svc\"}}}]}"
	ds := jgLoad(t, doc)
	names := []string{}
	for _, s := range jgSpans(ds) {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"op1", "opb", "trace ID from the trace"}; !slices.Equal(names, want) {
		t.Errorf("loaded %v, want %v", names, want)
	}
	for kind, n := range map[string]int{model.WarnBadSpan: 10, model.WarnMissingTime: 2, model.WarnEndBeforeStart: 1} {
		if got := ds.Warnings.Count(kind); got != n {
			t.Errorf("%s: %d, want %d (%+v)", kind, got, n, ds.Warnings.List())
		}
	}
	for _, w := range ds.Warnings.List() {
		if !strings.Contains(w.Example, "test.json: byte ") {
			t.Errorf("%s example %q does not say where", w.Kind, w.Example)
		}
	}
}

// TestJaegerFixtures loads every file of testdata/jaeger by path.
func TestJaegerFixtures(t *testing.T) {
	cases := map[string]struct {
		spans    int
		services string
		warnings int
	}{
		"bare-array.json":    {3, "svc-a svc-b", 0},
		"data-object.json":   {2, "db web", 0},
		"envelope.json":      {3, "analytics-worker chat-gateway llm-gateway", 0},
		"lookup-errors.json": {1, "frontend", 2},
		"single-trace.json":  {2, "S1 S2", 0},
		"transformed.json":   {3, "driver frontend", 0},
	}
	files, _ := filepath.Glob("testdata/jaeger/*.json")
	if len(files) != len(cases) {
		t.Errorf("%d fixture files, %d cases", len(files), len(cases))
	}
	for _, f := range files {
		want, ok := cases[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: no expectations", f)
			continue
		}
		ds, err := Load(context.Background(), []string{f}, Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		services := map[string]bool{}
		for _, s := range jgSpans(ds) {
			services[s.Service] = true
		}
		got := slices.Sorted(func(yield func(string) bool) {
			for s := range services {
				if !yield(s) {
					return
				}
			}
		})
		if ds.Spans != want.spans || strings.Join(got, " ") != want.services || ds.Warnings.Total() != want.warnings {
			t.Errorf("%s: %d spans of %v, %d warnings; want %d of %s, %d", f, ds.Spans, got, ds.Warnings.Total(), want.spans, want.services, want.warnings)
		}
		if ds.Inputs[0].Format != "jaeger-json" {
			t.Errorf("%s: format %q", f, ds.Inputs[0].Format)
		}
	}

	// The transformed trace: parents from references, the embedded spans
	// skipped, the error tag given as a string.
	ds, err := Load(context.Background(), []string{"testdata/jaeger/transformed.json"}, Options{Keep: []string{"host.name"}})
	if err != nil {
		t.Fatal(err)
	}
	m := jgByName(t, ds)
	if m["FindDriverIDs"].Parent != 1 || m["redis GetDriver"].Parent != 2 || m["HTTP GET /dispatch"].Parent != 0 {
		t.Errorf("parents: %+v", m)
	}
	if m["redis GetDriver"].Flags&model.FlagError == 0 || m["HTTP GET /dispatch"].Attrs != "" {
		t.Errorf("flags or attributes: %+v", m)
	}
}

// crispDir is the shared CRISP fixture folder, relative to this package.
const crispDir = "../../shared/testdata/crisp"

// TestJaegerCRISP loads CRISP's golden traces (non-hex IDs, extra
// top-level keys) and checks them against encoding/json's reading.
func TestJaegerCRISP(t *testing.T) {
	if _, err := os.Stat(crispDir); err != nil {
		t.Skipf("CRISP fixtures not found at %s: %v", crispDir, err)
	}
	var files []string
	filepath.WalkDir(crispDir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Skipf("no JSON files in %s", crispDir)
	}
	type jspan struct {
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
			Value any    `json:"value"`
		} `json:"tags"`
	}
	type jtrace struct {
		TraceID   string  `json:"traceID"`
		Spans     []jspan `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	}
	for _, f := range files {
		name, _ := filepath.Rel(crispDir, f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			var traces []jtrace
			if err := json.Unmarshal(doc.Data, &traces); err != nil {
				var one jtrace
				if err := json.Unmarshal(doc.Data, &one); err != nil {
					t.Fatal(err)
				}
				traces = []jtrace{one}
			}
			// What encoding/json says, keyed by the span ID's text.
			type exp struct {
				service, name, parent string
				start, end            int64
				isErr                 bool
			}
			want := map[string]exp{}
			byID := map[model.SpanID]string{}
			for _, tr := range traces {
				for _, s := range tr.Spans {
					e := exp{service: tr.Processes[s.ProcessID].ServiceName, name: s.Operation,
						start: s.StartTime * 1000, end: (s.StartTime + s.Duration) * 1000}
					for _, r := range s.References {
						if r.RefType == "CHILD_OF" {
							e.parent = r.SpanID
							break
						}
					}
					for _, tag := range s.Tags {
						if tag.Key == "error" && (tag.Value == true || tag.Value == "true") {
							e.isErr = true
						}
					}
					want[s.SpanID] = e
					id := jaegerSpanID([]byte(s.SpanID))
					if prev, dup := byID[id]; dup {
						t.Fatalf("span IDs %q and %q map to the same %s", prev, s.SpanID, id)
					}
					byID[id] = s.SpanID
				}
			}

			ds, err := Load(context.Background(), []string{f}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Spans != len(want) {
				t.Fatalf("%d spans, want %d", ds.Spans, len(want))
			}
			if n := ds.Warnings.Total(); n != 0 {
				t.Errorf("%d warnings: %+v", n, ds.Warnings.List())
			}
			for _, s := range jgSpans(ds) {
				text := byID[s.ID]
				w, ok := want[text]
				if !ok {
					t.Errorf("loaded span %s is not in the file", s.ID)
					continue
				}
				parent := ""
				if s.Parent != 0 {
					parent = byID[s.Parent]
				}
				got := exp{service: s.Service, name: s.Name, parent: parent, start: s.Start, end: s.End, isErr: s.Flags&model.FlagError != 0}
				if got != w {
					t.Errorf("span %q: got %+v, want %+v", text, got, w)
				}
				if tt := ds.TraceText(s.Trace); tt != traces[0].TraceID {
					t.Errorf("span %q: trace text %q, want %q", text, tt, traces[0].TraceID)
				}
			}
		})
	}
}

// jgChain writes a transformed trace, as older Jaeger UIs downloaded it: a
// chain of n spans where every reference embeds its parent span, which
// embeds its own parent, and so on, depth levels deep (the last span embeds
// the whole chain).
func jgChain(n, depth int) []byte {
	var b bytes.Buffer
	const trace = "00000000000000000000000000c4a1c0"
	var write func(i, left int, top bool)
	write = func(i, left int, top bool) {
		fmt.Fprintf(&b, `{"traceID":%q,"spanID":"%016x","operationName":"op-%d","startTime":%d,"duration":%d,`+
			`"processID":"p1","process":{"serviceName":"chain","tags":[]},"depth":%d,"hasChildren":%v,"childSpanIds":[],"references":[`,
			trace, i+1, i, 1700000000000000+int64(i), 2*(n-i), i, i < n-1)
		if i > 0 {
			fmt.Fprintf(&b, `{"refType":"CHILD_OF","traceID":%q,"spanID":"%016x"`, trace, i)
			if left > 0 {
				b.WriteString(`,"span":`)
				write(i-1, left-1, false)
			}
			b.WriteString("}")
		}
		b.WriteString("]")
		if top {
			fmt.Fprintf(&b, `,"relativeStartTime":%d`, i)
		}
		b.WriteString("}")
	}
	b.WriteString(`{"traceID":"` + trace + `","spans":[` + "\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		d := depth
		if i == n-1 {
			d = n
		}
		write(i, d, true)
	}
	b.WriteString("\n],\"processes\":{\"p1\":{\"serviceName\":\"chain\",\"tags\":[]}}}\n")
	return b.Bytes()
}

func TestJaegerTransformedNested(t *testing.T) {
	const n = 2000
	doc := jgChain(n, 8)
	if len(doc) < 2<<20 {
		t.Fatalf("document is only %d bytes", len(doc))
	}
	start := time.Now()
	ds, err := LoadReader(context.Background(), "chain.json", bytes.NewReader(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d spans from %.1f MB in %v", ds.Spans, float64(len(doc))/1e6, time.Since(start))
	if ds.Spans != n || ds.Warnings.Total() != 0 {
		t.Fatalf("%d spans, want %d; warnings %+v", ds.Spans, n, ds.Warnings.List())
	}
	for _, s := range jgSpans(ds) {
		if s.Parent != s.ID-1 || s.Name != fmt.Sprintf("op-%d", s.ID-1) || s.Service != "chain" {
			t.Fatalf("span %+v: want parent %d", s, s.ID-1)
		}
	}

	// Nesting far deeper than any recursive reader's stack would take.
	var b strings.Builder
	const deep = 200_000
	b.WriteString(`{"data":[{"traceID":"1","spans":[{"traceID":"1","spanID":"2","operationName":"deep","startTime":1,"duration":1,"references":[{"refType":"CHILD_OF","spanID":"1","span":`)
	for range deep {
		b.WriteString(`{"references":[{"span":`)
	}
	b.WriteString("{}")
	for range deep {
		b.WriteString("}]}")
	}
	b.WriteString(`}]}],"processes":{}}]}`)
	ds, err = LoadReader(context.Background(), "deep.json", strings.NewReader(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := jgSpans(ds); len(s) != 1 || s[0].Parent != 1 {
		t.Fatalf("spans %+v", s)
	}
}

// TestJaegerMatchesOTLP reads the same generated traces as Collector JSON
// Lines and as a Jaeger document and expects the same spans, at the µs
// precision Jaeger keeps.
func TestJaegerMatchesOTLP(t *testing.T) {
	cfg := synth.Config{Requests: 60, Seed: 11, ErrorRate: 0.25}
	var otlp, jaeger bytes.Buffer
	no, err := synth.WriteJSONL(&otlp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	nj, err := synth.WriteJaeger(&jaeger, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if no != nj {
		t.Fatalf("%d OTLP spans, %d Jaeger spans written", no, nj)
	}
	keep := []string{"gen_ai.request.model", "gen_ai.usage.input_tokens", "http.response.status_code", "service.version", "deployment.environment.name"}
	load := func(name string, b []byte) []jgSpan {
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
	o, j := load("otlp.jsonl", otlp.Bytes()), load("jaeger.json", jaeger.Bytes())
	if len(o) != no || len(j) != nj {
		t.Fatalf("loaded %d OTLP and %d Jaeger spans, want %d", len(o), len(j), no)
	}
	errs := 0
	for i := range o {
		if o[i] != j[i] {
			t.Fatalf("span %d differs:\n  OTLP %+v\nJaeger %+v", i, o[i], j[i])
		}
		if o[i].Flags&model.FlagError != 0 {
			errs++
		}
	}
	if errs == 0 || !strings.Contains(o[0].Attrs, "service.version=") {
		t.Fatalf("the comparison lacks error spans (%d) or kept attributes (%q)", errs, o[0].Attrs)
	}
}

// jgSeeds are small inputs for the fuzzer besides the fixture files.
var jgSeeds = []string{
	jgTrace,
	`[` + jgTrace + `]`,
	`{"data":` + jgTrace + `,"errors":[{"code":404,"msg":"not found","traceID":"A"}]}`,
	jgDoc(jgOneSpan("1", `"references":[{"refType":"FOLLOWS_FROM","spanID":"2","span":{"references":[{"span":{}}]}}],"parentSpanID":"3"`)),
	jgDoc(jgOneSpan("G", `"tags":[{"key":"error","value":"true"},{"key":"span.kind","value":"server"}],"process":{"serviceName":"e"}`)),
	`{"data":[{"spans":[{"spanID":"1","startTime":"1","duration":"x"}]}]}`,
	`{"data":null,"errors":null}`,
}

func FuzzJaegerJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/jaeger/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range jgSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, "host.name", "http.route") })
}

var (
	jgBenchOnce         sync.Once
	jgBenchDoc, jgBench []byte // Jaeger document, the same traces as JSON Lines
	jgBenchSpans        int
)

func jgBenchData(b *testing.B) ([]byte, []byte) {
	jgBenchOnce.Do(func() {
		cfg := synth.Config{Requests: 20_000 / synth.SpansPerRequest, Seed: 7}
		var doc, lines bytes.Buffer
		n, err := synth.WriteJaeger(&doc, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := synth.WriteJSONL(&lines, cfg); err != nil {
			b.Fatal(err)
		}
		jgBenchDoc, jgBench, jgBenchSpans = doc.Bytes(), lines.Bytes(), n
	})
	return jgBenchDoc, jgBench
}

// BenchmarkJaegerJSON reads a generated Jaeger document of about 20,000
// spans: with the decoder alone on one goroutine (the reader's own cost),
// through LoadReader (reading, storing, merging), and for comparison the
// same traces as OTLP JSON Lines with the decoder alone.
func BenchmarkJaegerJSON(b *testing.B) {
	doc, lines := jgBenchData(b)
	b.Run("jaeger-decode", func(b *testing.B) { benchDecode(b, doc, jgBenchSpans) })
	b.Run("jaeger-load", func(b *testing.B) { benchLoad(b, doc, jgBenchSpans) })
	b.Run("otlp-jsonl-decode", func(b *testing.B) { benchDecode(b, lines, jgBenchSpans) })
}
