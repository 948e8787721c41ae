package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
	"github.com/trace-forensics/trace-forensics/sources"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fakeJaeger serves Jaeger's query API (api_v3 and v1) over a fixed set of
// synthetic traces. Searches return at most the number of traces asked for,
// in a scrambled order, as real stores may: pulls must still be complete.
type fakeJaeger struct {
	t       testing.TB
	traces  []fakeTrace
	noV3    bool // answer /api/v3/* with the UI's HTML page, as Jaeger before api_v3
	maxPage int  // refuse larger searches like Jaeger's memory store ("search depth")

	mu       sync.Mutex
	requests map[string]int // path → count
	queries  []string       // raw queries of searches
	auth     []string       // Authorization headers seen
}

type fakeTrace struct {
	id    string // 32 hex
	start time.Time
	even  bool // tagged env=even on its root span
}

var fakeBase = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newFakeJaeger(t testing.TB, n int) (*fakeJaeger, *httptest.Server) {
	f := &fakeJaeger{t: t, requests: map[string]int{}}
	for i := range n {
		f.traces = append(f.traces, fakeTrace{
			id:    fmt.Sprintf("%032x", 0xabc000+i),
			start: fakeBase.Add(time.Duration(i) * time.Second),
			even:  i%2 == 0,
		})
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// window covers every fake trace.
func fakeWindow() (time.Time, time.Time) {
	return fakeBase.Add(-time.Minute), fakeBase.Add(24 * time.Hour)
}

func (f *fakeJaeger) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

func (f *fakeJaeger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	key := r.URL.Path
	if strings.HasPrefix(key, "/api/v3/traces/") {
		key = "/api/v3/traces/{id}"
	} else if strings.HasPrefix(key, "/api/traces/") {
		key = "/api/traces/{id}"
	}
	f.requests[key]++
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	q := r.URL.Query()
	if f.noV3 && strings.HasPrefix(r.URL.Path, "/api/v3/") {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>Jaeger UI</title>")
		return
	}
	switch {
	case r.URL.Path == "/api/v3/services":
		fmt.Fprint(w, `{"services":["svc-a","svc-b"]}`)
	case r.URL.Path == "/api/services":
		fmt.Fprint(w, `{"data":["svc-a","svc-b"],"total":2}`)
	case r.URL.Path == "/api/v3/operations":
		fmt.Fprint(w, `{"operations":[{"name":"GET /x","spanKind":"server"}]}`)
	case r.URL.Path == "/api/operations":
		fmt.Fprint(w, `{"data":[{"name":"db","spanKind":"client"}],"total":1}`)
	case r.URL.Path == "/api/v3/traces":
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		lo, err1 := time.Parse(time.RFC3339Nano, q.Get("query.start_time_min"))
		hi, err2 := time.Parse(time.RFC3339Nano, q.Get("query.start_time_max"))
		n, err3 := strconv.Atoi(q.Get("query.num_traces"))
		if err1 != nil || err2 != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"httpCode":400,"message":"query.start_time_min and query.start_time_max are required"}}`)
			return
		}
		if err3 != nil || n <= 0 || (f.maxPage > 0 && n >= f.maxPage) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"httpCode":500,"message":"search depth must be greater than 0 and less than max traces"}}`)
			return
		}
		found := f.search(q.Get("query.service_name"), lo, hi, n, nil)
		if len(found) == 0 {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"httpCode":404,"message":"No traces found"}}`)
			return
		}
		w.Write(f.v3Body(found))
	case strings.HasPrefix(r.URL.Path, "/api/v3/traces/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/v3/traces/")
		for _, tr := range f.traces {
			if tr.id == id {
				w.Write(f.v3Body([]fakeTrace{tr}))
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"httpCode":404,"message":"No traces found"}}`)
	case r.URL.Path == "/api/traces":
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
		end, _ := strconv.ParseInt(q.Get("end"), 10, 64)
		n, _ := strconv.Atoi(q.Get("limit"))
		if q.Get("service") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"data":null,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}`)
			return
		}
		var tags map[string]string
		if s := q.Get("tags"); s != "" {
			if err := json.Unmarshal([]byte(s), &tags); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
		}
		found := f.search(q.Get("service"), time.UnixMicro(start), time.UnixMicro(end), n, tags)
		w.Write(f.v1Body(found))
	case strings.HasPrefix(r.URL.Path, "/api/traces/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/traces/")
		for _, tr := range f.traces {
			if tr.id == id {
				w.Write(f.v1Body([]fakeTrace{tr}))
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}`)
	default:
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>Jaeger UI</title>")
	}
}

// search returns up to n matching traces in a scrambled order.
func (f *fakeJaeger) search(service string, lo, hi time.Time, n int, tags map[string]string) []fakeTrace {
	var out []fakeTrace
	for _, tr := range f.traces {
		if tr.start.Before(lo) || tr.start.After(hi) {
			continue
		}
		if service != "" && service != "svc-a" && service != "svc-b" {
			continue
		}
		if v, ok := tags["env"]; ok && (v == "even") != tr.even {
			continue
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return (out[i].start.Unix()*7919)%101 < (out[j].start.Unix()*7919)%101 })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// The spans of a fake trace: a server root in svc-a and a client child in svc-b.
func fakeSpans(tr fakeTrace) (rootID, childID string, rootDur, childDur time.Duration) {
	return tr.id[16:], "1" + tr.id[17:], 100*time.Millisecond + time.Duration(tr.start.Unix()%50)*time.Millisecond, 10 * time.Millisecond
}

func (f *fakeJaeger) v3Body(found []fakeTrace) []byte {
	td := ptrace.NewTraces()
	for _, tr := range found {
		rootID, childID, rootDur, childDur := fakeSpans(tr)
		var tid pcommon.TraceID
		copy(tid[:], mustHex(f.t, tr.id))
		for k, svc := range []string{"svc-a", "svc-b"} {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(tid)
			var sid pcommon.SpanID
			if k == 0 {
				copy(sid[:], mustHex(f.t, rootID))
				sp.SetName("GET /x")
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(tr.start))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(tr.start.Add(rootDur)))
				if tr.even {
					sp.Attributes().PutStr("env", "even")
				}
			} else {
				copy(sid[:], mustHex(f.t, childID))
				var pid pcommon.SpanID
				copy(pid[:], mustHex(f.t, rootID))
				sp.SetParentSpanID(pid)
				sp.SetName("db")
				sp.SetKind(ptrace.SpanKindClient)
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(tr.start.Add(time.Millisecond)))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(tr.start.Add(time.Millisecond + childDur)))
			}
			sp.SetSpanID(sid)
		}
	}
	var m ptrace.JSONMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		f.t.Error(err)
	}
	return []byte(`{"result":` + string(b) + `}`)
}

func (f *fakeJaeger) v1Body(found []fakeTrace) []byte {
	var traces []string
	for _, tr := range found {
		rootID, childID, rootDur, childDur := fakeSpans(tr)
		us := tr.start.UnixMicro()
		tag := ""
		if tr.even {
			tag = `,{"key":"env","type":"string","value":"even"}`
		}
		traces = append(traces, fmt.Sprintf(`{"traceID":%q,"spans":[`+
			`{"traceID":%q,"spanID":%q,"operationName":"GET /x","references":[],"startTime":%d,"duration":%d,"tags":[{"key":"span.kind","type":"string","value":"server"}%s],"processID":"p1"},`+
			`{"traceID":%q,"spanID":%q,"operationName":"db","references":[{"refType":"CHILD_OF","traceID":%q,"spanID":%q}],"startTime":%d,"duration":%d,"tags":[{"key":"span.kind","type":"string","value":"client"}],"processID":"p2"}],`+
			`"processes":{"p1":{"serviceName":"svc-a","tags":[]},"p2":{"serviceName":"svc-b","tags":[]}}}`,
			tr.id, tr.id, rootID, us, rootDur.Microseconds(), tag,
			tr.id, childID, tr.id, rootID, us+1000, childDur.Microseconds()))
	}
	return []byte(`{"data":[` + strings.Join(traces, ",") + `],"total":0,"limit":0,"offset":0,"errors":null}`)
}

func mustHex(t testing.TB, s string) []byte {
	var b []byte
	for i := 0; i+1 < len(s); i += 2 {
		v, err := strconv.ParseUint(s[i:i+2], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, byte(v))
	}
	return b
}

func testPullOpts() PullOptions {
	return PullOptions{Timeout: 5 * time.Second, RetryBackoff: time.Millisecond, Getenv: func(string) string { return "" }}
}

// traceSet lists the distinct traces of a dataset.
func traceSet(ds *model.Dataset) map[string]int {
	out := map[string]int{}
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, sp := range slab {
				out[sp.Trace.String()]++
			}
		}
	}
	return out
}

func TestPullJaegerV3Search(t *testing.T) {
	f, srv := newFakeJaeger(t, 57)
	lo, hi := fakeWindow()
	ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"}, Start: lo, End: hi}, testPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := traceSet(ds)
	if len(got) != 57 || ds.Spans != 114 {
		t.Fatalf("%d traces, %d spans; want 57 and 114", len(got), ds.Spans)
	}
	if ds.Inputs[0].Format != "otlp-json" || !strings.HasPrefix(ds.Inputs[0].Name, "jaeger http://127.0.0.1:") {
		t.Errorf("input %+v", ds.Inputs[0])
	}
	if n := f.count("/api/traces"); n != 0 {
		t.Errorf("%d v1 searches on a server with api_v3", n)
	}
	q := f.queries[0]
	for _, want := range []string{"query.service_name=svc-a", "query.num_traces=1000", "query.raw_traces=true", "query.start_time_min=2026-05-01T11%3A59%3A00Z"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %s lacks %s", q, want)
		}
	}
}

// A page smaller than the matches makes the search split its window until
// every trace is in, each exactly once, whatever order the store answers in.
func TestPullJaegerPagesByWindow(t *testing.T) {
	for _, noV3 := range []bool{false, true} {
		t.Run(fmt.Sprintf("noV3=%v", noV3), func(t *testing.T) {
			f, srv := newFakeJaeger(t, 200)
			f.noV3 = noV3
			lo, hi := fakeWindow()
			po := testPullOpts()
			po.PageSize = 16
			ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"}, Start: lo, End: hi, Limit: 5000}, po, sources.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := traceSet(ds)
			if len(got) != 200 {
				t.Fatalf("%d traces, want 200", len(got))
			}
			for id, n := range got {
				if n != 2 {
					t.Fatalf("trace %s has %d spans, want 2 (delivered twice?)", id, n)
				}
			}
			if w := ds.Warnings.List(); len(w) != 0 {
				t.Errorf("warnings %v", w)
			}
			if len(f.queries) > 200 {
				t.Errorf("%d searches for 200 traces in pages of 16", len(f.queries))
			}
		})
	}
}

func TestPullJaegerLimit(t *testing.T) {
	f, srv := newFakeJaeger(t, 120)
	lo, hi := fakeWindow()
	for _, page := range []int{0, 7} {
		po := testPullOpts()
		po.PageSize = page
		var notes []string
		po.Notify = func(s string) { notes = append(notes, s) }
		ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"}, Start: lo, End: hi, Limit: 30}, po, sources.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(traceSet(ds)); n != 30 {
			t.Errorf("page %d: %d traces, want --limit 30", page, n)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "stopped at --limit 30") {
			t.Errorf("page %d: notices %q", page, notes)
		}
	}
	_ = f
}

// Jaeger refuses num_traces at or above its store's maximum: the page
// shrinks instead of failing.
func TestPullJaegerSearchDepthShrinksPage(t *testing.T) {
	f, srv := newFakeJaeger(t, 40)
	f.maxPage = 10
	lo, hi := fakeWindow()
	ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"}, Start: lo, End: hi}, testPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(traceSet(ds)); n != 40 {
		t.Errorf("%d traces, want 40", n)
	}
	// The refusal is deterministic: each refused size is asked once, not
	// retried (1000, 500, 250, 125, 62, 31 and 15 are refused).
	refused := 0
	for _, q := range f.queries {
		v, _ := url.ParseQuery(q)
		if n, _ := strconv.Atoi(v.Get("query.num_traces")); n >= 10 {
			refused++
		}
	}
	if refused != 7 {
		t.Errorf("%d refused searches, want 7", refused)
	}
}

func TestPullJaegerEmptyResult(t *testing.T) {
	_, srv := newFakeJaeger(t, 5)
	// The v3 404 "No traces found" is an empty result, not an error.
	ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"},
		Start: fakeBase.Add(-48 * time.Hour), End: fakeBase.Add(-47 * time.Hour)}, testPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spans != 0 || len(ds.Inputs) != 1 || ds.Inputs[0].Spans != 0 {
		t.Errorf("spans %d, inputs %+v", ds.Spans, ds.Inputs)
	}
}

func TestPullJaegerTraceIDs(t *testing.T) {
	for _, noV3 := range []bool{false, true} {
		t.Run(fmt.Sprintf("noV3=%v", noV3), func(t *testing.T) {
			f, srv := newFakeJaeger(t, 20)
			f.noV3 = noV3
			ids := []string{f.traces[3].id, f.traces[9].id, "ffffffffffffffff", f.traces[3].id}
			po := testPullOpts()
			po.Concurrency = 2
			ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{TraceIDs: ids}, po, sources.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := traceSet(ds)
			if len(got) != 2 || got[f.traces[3].id] != 2 || got[f.traces[9].id] != 2 {
				t.Errorf("traces %v", got)
			}
			if n := ds.Warnings.Count(WarnTraceNotFound); n != 1 {
				t.Errorf("%d trace_not_found warnings, want 1", n)
			}
			path := "/api/v3/traces/{id}"
			if noV3 {
				path = "/api/traces/{id}"
			}
			if n := f.count(path); n != 3 {
				t.Errorf("%d fetches of %s, want 3 (duplicates asked once)", n, path)
			}
		})
	}
}

// Tags are searched through v1: api_v3's HTTP gateway ignores them.
func TestPullJaegerTagsUseV1(t *testing.T) {
	f, srv := newFakeJaeger(t, 10)
	lo, hi := fakeWindow()
	ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"}, Start: lo, End: hi,
		Tags: map[string]string{"env": "even"}}, testPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.count("/api/v3/traces") != 0 || f.count("/api/traces") == 0 {
		t.Errorf("searches: v3 %d, v1 %d", f.count("/api/v3/traces"), f.count("/api/traces"))
	}
	if !strings.Contains(f.queries[0], "tags=%7B%22env%22%3A%22even%22%7D") || !strings.Contains(f.queries[0], "raw=true") {
		t.Errorf("query %s", f.queries[0])
	}
	if n := len(traceSet(ds)); n != 5 {
		t.Errorf("%d traces, want the 5 even ones", n)
	}
}

func TestPullJaegerV1NeedsService(t *testing.T) {
	f, srv := newFakeJaeger(t, 3)
	f.noV3 = true
	_, err := PullJaeger(context.Background(), srv.URL, TraceQuery{}, testPullOpts(), sources.Options{})
	if err == nil || !strings.Contains(err.Error(), "--service") {
		t.Errorf("err = %v", err)
	}
}

func TestJaegerServicesHTTP(t *testing.T) {
	for _, noV3 := range []bool{false, true} {
		f, srv := newFakeJaeger(t, 1)
		f.noV3 = noV3
		list, err := JaegerServices(context.Background(), srv.URL, nil, testPullOpts())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Service != "svc-a" || len(list[1].Operations) != 1 {
			t.Errorf("noV3=%v: %+v", noV3, list)
		}
		want := "GET /x"
		if noV3 {
			want = "db"
		}
		if list[0].Operations[0].Name != want {
			t.Errorf("noV3=%v: operations %+v", noV3, list[0].Operations)
		}
	}
}

func TestPullJaegerSave(t *testing.T) {
	for _, noV3 := range []bool{false, true} {
		t.Run(fmt.Sprintf("noV3=%v", noV3), func(t *testing.T) {
			f, srv := newFakeJaeger(t, 60)
			f.noV3 = noV3
			lo, hi := fakeWindow()
			dir := filepath.Join(t.TempDir(), "saved")
			po := testPullOpts()
			po.SaveDir, po.PageSize = dir, 8 // overlapping answers are re-encoded before saving
			ds, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a", "svc-b"}, Start: lo, End: hi}, po, sources.Options{})
			if err != nil {
				t.Fatal(err)
			}
			back, err := sources.Load(context.Background(), []string{dir}, sources.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if back.Spans != ds.Spans || len(traceSet(back)) != 60 {
				t.Errorf("read back %d spans in %d traces; pulled %d spans", back.Spans, len(traceSet(back)), ds.Spans)
			}
			if w := back.Warnings.List(); len(w) != 0 {
				t.Errorf("warnings reading back: %v", w)
			}
			var m PullManifest
			b, err := os.ReadFile(filepath.Join(dir, ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if len(m.Files) != 1 || m.Answers == 0 || m.Limit != DefaultPullLimit || m.Start == nil {
				t.Errorf("manifest %+v", m)
			}
			// A second pull into the same directory is refused.
			if _, err := PullJaeger(context.Background(), srv.URL, TraceQuery{Services: []string{"svc-a"}, Start: lo, End: hi}, po, sources.Options{}); err == nil || !strings.Contains(err.Error(), "not empty") {
				t.Errorf("second save: %v", err)
			}
		})
	}
}
