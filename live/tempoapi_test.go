package live

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
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

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/trace-forensics/trace-forensics/internal/spantest"
	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// fakeTempo serves the parts of Grafana Tempo's HTTP API a pull uses, as
// documented (Tempo itself is AGPL and is not built or vendored here):
//
//	GET /api/search?q=&start=&end=&limit=&spss=  TraceQL search, epoch seconds
//	GET /api/traces/{id}                         v1 JSON {"batches":…}, or protobuf
//	                                             with Accept: application/protobuf
//	GET /api/v2/traces/{id}                      {"trace":…,"status":…}
//
// Searches list the traces whose time range meets the whole seconds asked
// for, at most limit of them in a scrambled order, with the leading zeros
// of their IDs dropped, as Tempo does.
type fakeTempo struct {
	t      testing.TB
	traces []fakeTempoTrace
	byID   map[string]*fakeTempoTrace

	token     string        // wanted as a bearer token, when set
	orgID     string        // wanted as X-Scope-OrgID, when set
	noProto   bool          // ignore Accept: always JSON, as Tempo before protobuf answers
	slow      time.Duration // delay before answering trace lookups
	huge      bool          // answer trace lookups with more than any cap
	html      bool          // answer everything with a web page
	fail503   int           // answer this many requests with 503 first
	missing   map[string]bool
	maxLimit  int  // the server's max search limit (0: none)
	honorsDur bool // apply minDuration/maxDuration to TraceQL searches

	mu       sync.Mutex
	searches []url.Values
	fetches  []string // paths of trace lookups
	accepts  []string // Accept headers of trace lookups
	orgs     []string
	auths    []string
}

type fakeTempoTrace struct {
	id    string // 32 hex
	start int64  // unix ns
	end   int64
	spans []synth.Span
}

// newFakeTempo serves the traces synth generates for cfg; every other trace
// gets an ID with leading zeros, so search answers shorten it.
func newFakeTempo(t testing.TB, cfg synth.Config) (*fakeTempo, *httptest.Server) {
	f := &fakeTempo{t: t, byID: map[string]*fakeTempoTrace{}, missing: map[string]bool{}}
	for _, spans := range tempoSynthTraces(cfg) {
		tr := fakeTempoTrace{spans: spans, id: hex.EncodeToString(spans[0].TraceID[:])}
		for _, s := range spans {
			if tr.start == 0 || s.Start < tr.start {
				tr.start = s.Start
			}
			tr.end = max(tr.end, s.End)
		}
		f.traces = append(f.traces, tr)
	}
	for i := range f.traces {
		f.byID[f.traces[i].id] = &f.traces[i]
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// tempoSynthTraces generates cfg's traces, giving every other one a trace
// ID with two leading zero bytes.
func tempoSynthTraces(cfg synth.Config) [][]synth.Span {
	g := synth.New(cfg)
	var out [][]synth.Span
	for i := range cfg.Requests {
		spans := g.Next()
		if i%2 == 0 {
			for k := range spans {
				spans[k].TraceID[0], spans[k].TraceID[1] = 0, 0
			}
		}
		out = append(out, spans)
	}
	return out
}

// tempoOTLP writes the same traces as Collector JSON Lines.
func tempoOTLP(t testing.TB, cfg synth.Config) []byte {
	var b bytes.Buffer
	for _, spans := range tempoSynthTraces(cfg) {
		var m = synth.TempoTraces(spans)
		doc, err := otlpJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(doc)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (f *fakeTempo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.orgs = append(f.orgs, r.Header.Get("X-Scope-OrgID"))
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	fail := f.fail503 > 0
	if fail {
		f.fail503--
	}
	f.mu.Unlock()
	if f.html {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Grafana</title></head></html>")
		return
	}
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "too many outstanding requests")
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "Unauthorized")
		return
	}
	if f.orgID != "" && r.Header.Get("X-Scope-OrgID") != f.orgID {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "no org id")
		return
	}
	switch {
	case r.URL.Path == "/api/search":
		f.search(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/traces/"):
		f.mu.Lock()
		f.fetches = append(f.fetches, r.URL.Path)
		f.accepts = append(f.accepts, r.Header.Get("Accept"))
		f.mu.Unlock()
		f.trace(w, r, strings.TrimPrefix(r.URL.Path, "/api/traces/"), false)
	case strings.HasPrefix(r.URL.Path, "/api/v2/traces/"):
		f.trace(w, r, strings.TrimPrefix(r.URL.Path, "/api/v2/traces/"), true)
	case r.URL.Path == "/api/echo":
		fmt.Fprint(w, "echo")
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "404 page not found")
	}
}

func (f *fakeTempo) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f.mu.Lock()
	f.searches = append(f.searches, v)
	f.mu.Unlock()
	q := v.Get("q")
	if !strings.HasPrefix(strings.TrimSpace(q), "{") || strings.Count(q, "{") != strings.Count(q, "}") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "invalid TraceQL query: parse error at line 1, col %d: syntax error: unexpected $end", len(q)+1)
		return
	}
	limit, err := strconv.Atoi(v.Get("limit"))
	if err != nil || limit <= 0 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "invalid limit: must be a positive number")
		return
	}
	if f.maxLimit > 0 {
		limit = min(limit, f.maxLimit)
	}
	start, err1 := strconv.ParseInt(v.Get("start"), 10, 64)
	end, err2 := strconv.ParseInt(v.Get("end"), 10, 64)
	if err1 != nil || err2 != nil || end <= start {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "http parameter start must be before end. received start=%d end=%d", start, end)
		return
	}
	var minDur, maxDur time.Duration
	if f.honorsDur {
		minDur, _ = time.ParseDuration(v.Get("minDuration"))
		maxDur, _ = time.ParseDuration(v.Get("maxDuration"))
	}
	// { resource.service.name = "x" } and { traceDuration >= Nms } are
	// understood; other conditions match every trace.
	svc := ""
	if i := strings.Index(q, `resource.service.name = "`); i >= 0 {
		rest := q[i+len(`resource.service.name = "`):]
		svc = rest[:strings.IndexByte(rest, '"')]
	}
	if i := strings.Index(q, "traceDuration >= "); i >= 0 {
		rest := q[i+len("traceDuration >= "):]
		if d, err := time.ParseDuration(strings.Fields(rest)[0]); err == nil {
			minDur = d
		}
	}
	var found []*fakeTempoTrace
	for i := range f.traces {
		tr := &f.traces[i]
		if tr.end < start*1e9 || tr.start >= end*1e9 {
			continue
		}
		d := time.Duration(tr.end - tr.start)
		if minDur > 0 && d < minDur || maxDur > 0 && d > maxDur {
			continue
		}
		if svc != "" && !slicesContainsService(tr.spans, svc) {
			continue
		}
		found = append(found, tr)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].id[20:] < found[j].id[20:] }) // scrambled
	if len(found) > limit {
		found = found[:limit]
	}
	var b strings.Builder
	b.WriteString(`{"traces":[`)
	for i, tr := range found {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"traceID":%q,"rootServiceName":"chat-gateway","rootTraceName":"POST /v1/chat","startTimeUnixNano":"%d","durationMs":%d,"spanSets":[{"spans":[{"spanID":"%x","startTimeUnixNano":"%d","durationNanos":"%d"}],"matched":1}]}`,
			strings.TrimLeft(tr.id, "0"), tr.start, (tr.end-tr.start)/1e6, tr.spans[0].SpanID, tr.start, tr.end-tr.start)
	}
	b.WriteString(`],"metrics":{"inspectedTraces":` + strconv.Itoa(len(f.traces)) + `,"inspectedBytes":"1000","completedJobs":1,"totalJobs":1}}`)
	fmt.Fprint(w, b.String())
}

func slicesContainsService(spans []synth.Span, svc string) bool {
	for _, s := range spans {
		if s.Service == svc {
			return true
		}
	}
	return false
}

func (f *fakeTempo) trace(w http.ResponseWriter, r *http.Request, id string, v2 bool) {
	if f.slow > 0 {
		select {
		case <-time.After(f.slow):
		case <-r.Context().Done():
			return
		}
	}
	if len(id) > 32 || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "invalid trace id")
		return
	}
	tr := f.byID[strings.Repeat("0", 32-len(id))+strings.ToLower(id)]
	if tr == nil || f.missing[tr.id] {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "trace not found")
		return
	}
	if f.huge {
		w.Header().Set("Content-Type", "application/json")
		w.Write(bytes.Repeat([]byte(" "), 3<<20))
		return
	}
	if !f.noProto && r.Header.Get("Accept") == "application/protobuf" {
		var body []byte
		var err error
		if v2 {
			body, err = synth.TempoTraceByIDProto(tr.spans, false)
		} else {
			body, err = synth.TempoTraceProto(tr.spans)
		}
		if err != nil {
			f.t.Error(err)
		}
		w.Header().Set("Content-Type", "application/protobuf")
		w.Write(body)
		return
	}
	format := synth.TempoV1
	if v2 {
		format = synth.TempoV2
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(synth.AppendTempoTrace(nil, tr.spans, format))
}

// tempoCfg is the traffic of the pull tests: 60 requests 700 ms apart.
var tempoCfg = synth.Config{Requests: 60, Seed: 21, ErrorRate: 0.2, Interval: 700 * time.Millisecond}

// tempoWindow covers every trace of cfg.
func tempoWindow(cfg synth.Config) (time.Time, time.Time) {
	start := synth.New(cfg).Next()[0].Start
	t := time.Unix(0, start)
	return t.Add(-time.Minute), t.Add(time.Duration(cfg.Requests)*cfg.Interval + time.Minute)
}

func tempoPullOpts() PullOptions {
	return PullOptions{Timeout: 5 * time.Second, RetryBackoff: time.Millisecond, Getenv: func(string) string { return "" }}
}

// otlpJSON marshals traces as OTLP/JSON.
func otlpJSON(td ptrace.Traces) ([]byte, error) {
	var m ptrace.JSONMarshaler
	return m.MarshalTraces(td)
}

// tempoSpans returns a dataset's spans, for comparisons.
func tempoSpans(t testing.TB, ds *model.Dataset) []spantest.Span { return spantest.List(ds) }

func TestPullTempoSearch(t *testing.T) {
	f, srv := newFakeTempo(t, tempoCfg)
	f.token, f.orgID = "s3cret-token", "team-a"
	lo, hi := tempoWindow(tempoCfg)
	po := tempoPullOpts()
	po.Getenv = func(k string) string {
		if k == "TRACE_FORENSICS_TEMPO_TOKEN" {
			return f.token
		}
		return ""
	}
	var progress bytes.Buffer
	po.Progress = &progress
	ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL, OrgID: "team-a"},
		TraceQuery{Start: lo, End: hi}, po, sources.Options{Keep: tempoKeep})
	if err != nil {
		t.Fatal(err)
	}
	want, err := sources.LoadReader(context.Background(), "otlp.jsonl", bytes.NewReader(tempoOTLP(t, tempoCfg)), sources.Options{Keep: tempoKeep})
	if err != nil {
		t.Fatal(err)
	}
	got, exp := tempoSpans(t, ds), tempoSpans(t, want)
	if len(got) != len(exp) || ds.Warnings.Total() != 0 {
		t.Fatalf("%d spans, want %d; warnings %+v", len(got), len(exp), ds.Warnings.List())
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Fatalf("span %d differs:\n got %+v\nwant %+v", i, got[i], exp[i])
		}
	}
	if !strings.HasPrefix(ds.Inputs[0].Name, "tempo http://127.0.0.1:") {
		t.Errorf("input %+v", ds.Inputs[0])
	}
	s := f.searches[0]
	if s.Get("q") != "{}" || s.Get("spss") != "1" || s.Get("limit") != "1000" || s.Get("start") != strconv.FormatInt(lo.Unix(), 10) {
		t.Errorf("search %v", s)
	}
	for i, p := range f.fetches {
		if len(strings.TrimPrefix(p, "/api/traces/")) != 32 || f.accepts[i] != "application/protobuf" {
			t.Fatalf("lookup %s with Accept %q: want 32 hex digits and protobuf", p, f.accepts[i])
		}
	}
	if len(f.fetches) != tempoCfg.Requests {
		t.Errorf("%d lookups for %d traces", len(f.fetches), tempoCfg.Requests)
	}
	for i := range f.orgs {
		if f.orgs[i] != "team-a" || f.auths[i] != "Bearer s3cret-token" {
			t.Fatalf("request %d: org %q auth %q", i, f.orgs[i], f.auths[i])
		}
	}
	if !strings.Contains(progress.String(), "traces") {
		t.Errorf("no progress drawn: %q", progress.String())
	}
}

// A server that does not answer protobuf (it ignores Accept) is read as
// JSON, and asked for JSON from then on.
func TestPullTempoJSONFallback(t *testing.T) {
	f, srv := newFakeTempo(t, tempoCfg)
	f.noProto = true
	lo, hi := tempoWindow(tempoCfg)
	po := tempoPullOpts()
	po.Concurrency = 1
	ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{Start: lo, End: hi}, po, sources.Options{Keep: tempoKeep})
	if err != nil {
		t.Fatal(err)
	}
	want, err := sources.LoadReader(context.Background(), "otlp.jsonl", bytes.NewReader(tempoOTLP(t, tempoCfg)), sources.Options{Keep: tempoKeep})
	if err != nil {
		t.Fatal(err)
	}
	got, exp := tempoSpans(t, ds), tempoSpans(t, want)
	if len(got) != len(exp) {
		t.Fatalf("%d spans, want %d", len(got), len(exp))
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Fatalf("span %d differs:\n got %+v\nwant %+v", i, got[i], exp[i])
		}
	}
	protobuf := 0
	for _, a := range f.accepts {
		if a == "application/protobuf" {
			protobuf++
		}
	}
	if protobuf != 1 || len(f.fetches) != tempoCfg.Requests {
		t.Errorf("%d protobuf asks in %d lookups; want 1, then JSON", protobuf, len(f.fetches))
	}
}

// Pages smaller than the matches split the window, sub-second windows
// included (Tempo answers whole seconds), until every trace is in once.
func TestPullTempoPaging(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      synth.Config
		page     int
		maxLimit int
	}{
		{"seconds apart", tempoCfg, 7, 0},
		{"many per second", synth.Config{Requests: 90, Seed: 4, Interval: 15 * time.Millisecond}, 8, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, srv := newFakeTempo(t, c.cfg)
			f.maxLimit = c.maxLimit
			lo, hi := tempoWindow(c.cfg)
			po := tempoPullOpts()
			po.PageSize = c.page
			var notes []string
			po.Notify = func(s string) { notes = append(notes, s) }
			ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{Start: lo, End: hi, Limit: 5000}, po, sources.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[model.TraceID]int{}
			for _, s := range spantest.Raw(ds) {
				got[s.Trace]++
			}
			if len(got) != c.cfg.Requests {
				t.Fatalf("%d traces, want %d (notes %q)", len(got), c.cfg.Requests, notes)
			}
			if ds.Warnings.Count(model.WarnDuplicateSpanID) != 0 {
				t.Errorf("a trace delivered twice: %+v", ds.Warnings.List())
			}
			if len(f.fetches) != c.cfg.Requests {
				t.Errorf("%d lookups for %d traces", len(f.fetches), c.cfg.Requests)
			}
		})
	}
	// --limit stops the pull; no trace is fetched that is not delivered.
	f, srv := newFakeTempo(t, tempoCfg)
	lo, hi := tempoWindow(tempoCfg)
	po := tempoPullOpts()
	po.PageSize = 7
	ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{Start: lo, End: hi, Limit: 10}, po, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(traceIDsOf(ds)); n != 10 {
		t.Errorf("%d traces for --limit 10", n)
	}
	if n := len(f.fetches); n != 10 {
		t.Errorf("%d lookups for --limit 10", n)
	}
}

// The query: TraceQL as given, or built from --service, --operation,
// --tag and the duration bounds.
func TestPullTempoQuery(t *testing.T) {
	f, srv := newFakeTempo(t, tempoCfg)
	lo, hi := tempoWindow(tempoCfg)
	q := TraceQuery{Start: lo, End: hi, Services: []string{"retrieval", "nobody"}, Operation: "retrieve",
		Tags:        map[string]string{"http.route": "/v1/chat", "http.response.status_code": "200", "my key": "a\"b"},
		MinDuration: 900 * time.Millisecond}
	ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, q, tempoPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{ resource.service.name = "retrieval" && name = "retrieve" && .http.response.status_code = 200 && .http.route = "/v1/chat" && ."my key" = "a\"b" && traceDuration >= 900ms }`
	if got := f.searches[0].Get("q"); got != want {
		t.Errorf("query\n got %s\nwant %s", got, want)
	}
	if f.searches[0].Get("minDuration") != "900ms" {
		t.Errorf("minDuration %q", f.searches[0].Get("minDuration"))
	}
	if got := f.searches[len(f.searches)-1].Get("q"); !strings.Contains(got, `"nobody"`) {
		t.Errorf("the second service was not searched: %s", got)
	}
	long := 0
	for _, tr := range f.traces {
		if tr.end-tr.start >= int64(900*time.Millisecond) {
			long++
		}
	}
	if n := len(traceIDsOf(ds)); n != long || long == 0 || long == len(f.traces) {
		t.Errorf("%d traces pulled, %d of %d are 900ms or longer", n, long, len(f.traces))
	}

	// With TraceQL, --service and --operation filter the report only; the
	// duration bounds go as parameters, and are checked on the answers of
	// a server that ignores them.
	f, srv = newFakeTempo(t, tempoCfg)
	tq := `{ span.http.route = "/v1/chat" }`
	q = TraceQuery{Start: lo, End: hi, Services: []string{"retrieval"}, Operation: "retrieve", MinDuration: 900 * time.Millisecond}
	po := tempoPullOpts()
	po.PageSize = 5
	ds, err = PullTempo(context.Background(), TempoOptions{URL: srv.URL, Query: tq}, q, po, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.searches {
		if s.Get("q") != tq || s.Get("minDuration") != "900ms" {
			t.Fatalf("search %v", s)
		}
	}
	if n := len(traceIDsOf(ds)); n != long {
		t.Errorf("%d traces pulled with a server that ignores minDuration, want %d", n, long)
	}
	if len(f.fetches) != long {
		t.Errorf("%d traces fetched, want only the %d long ones", len(f.fetches), long)
	}
	_, err = PullTempo(context.Background(), TempoOptions{URL: srv.URL, Query: tq}, TraceQuery{Tags: map[string]string{"a": "b"}}, po, sources.Options{})
	if err == nil || !strings.Contains(err.Error(), "--tag") {
		t.Errorf("--tag with --query: %v", err)
	}
}

func traceIDsOf(ds *model.Dataset) map[model.TraceID]bool {
	out := map[model.TraceID]bool{}
	for _, s := range spantest.Raw(ds) {
		out[s.Trace] = true
	}
	return out
}

// --trace-id fetches by ID, padded to 32 hex digits; a trace Tempo does not
// have is a warning.
func TestPullTempoTraceIDs(t *testing.T) {
	f, srv := newFakeTempo(t, tempoCfg)
	short := strings.TrimLeft(f.traces[0].id, "0")
	id0, _ := NormalizeTraceID(short)
	ids := []string{id0, f.traces[1].id, strings.Repeat("ab", 16)}
	f.missing[f.traces[1].id] = true
	ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{TraceIDs: ids}, tempoPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(traceIDsOf(ds)); n != 1 || ds.Warnings.Count(WarnTraceNotFound) != 2 {
		t.Fatalf("%d traces, warnings %+v", n, ds.Warnings.List())
	}
	if len(f.searches) != 0 {
		t.Errorf("%d searches with --trace-id", len(f.searches))
	}
	for _, p := range f.fetches {
		if len(strings.TrimPrefix(p, "/api/traces/")) != 32 {
			t.Errorf("lookup %s is not padded", p)
		}
	}
}

// --save writes what was pulled; reading the directory back gives the same
// spans.
func TestPullTempoSave(t *testing.T) {
	for _, noProto := range []bool{false, true} {
		t.Run(fmt.Sprintf("noProto=%v", noProto), func(t *testing.T) {
			f, srv := newFakeTempo(t, tempoCfg)
			f.noProto = noProto
			lo, hi := tempoWindow(tempoCfg)
			dir := filepath.Join(t.TempDir(), "pull")
			po := tempoPullOpts()
			po.SaveDir = dir
			po.PageSize = 9
			ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{Start: lo, End: hi}, po, sources.Options{Keep: tempoKeep})
			if err != nil {
				t.Fatal(err)
			}
			back, err := sources.Load(context.Background(), []string{dir}, sources.Options{Keep: tempoKeep})
			if err != nil {
				t.Fatal(err)
			}
			a, b := tempoSpans(t, ds), tempoSpans(t, back)
			if len(a) != len(b) || len(a) == 0 {
				t.Fatalf("%d spans pulled, %d read back", len(a), len(b))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("span %d differs:\npulled %+v\n  read %+v", i, a[i], b[i])
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "tempo.jsonl")); err != nil {
				t.Error(err)
			}
		})
	}
}

// Failures are one line that says what went wrong and where, never with
// the credentials.
func TestPullTempoErrors(t *testing.T) {
	lo, hi := tempoWindow(tempoCfg)
	q := TraceQuery{Start: lo, End: hi}
	pull := func(t *testing.T, f *fakeTempo, url string, to TempoOptions, po PullOptions) error {
		t.Helper()
		to.URL = url
		_, err := PullTempo(context.Background(), to, q, po, sources.Options{})
		if err == nil {
			t.Fatal("no error")
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "s3cret") {
			t.Errorf("error is not one clean line: %q", msg)
		}
		return err
	}
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		err = pull(t, nil, "http://"+addr, TempoOptions{}, tempoPullOpts())
		if !strings.Contains(err.Error(), "connection refused (is Tempo running there? its query port is usually 3200)") {
			t.Errorf("%v", err)
		}
	})
	t.Run("auth", func(t *testing.T) {
		f, srv := newFakeTempo(t, tempoCfg)
		f.token = "right"
		err := pull(t, f, srv.URL, TempoOptions{}, tempoPullOpts())
		if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "TRACE_FORENSICS_TEMPO_TOKEN") {
			t.Errorf("%v", err)
		}
		po := tempoPullOpts()
		po.Getenv = func(k string) string {
			return map[string]string{"TRACE_FORENSICS_TEMPO_USER": "ada", "TRACE_FORENSICS_TEMPO_PASSWORD": "s3cret"}[k]
		}
		err = pull(t, f, srv.URL, TempoOptions{}, po)
		if !strings.Contains(err.Error(), "TRACE_FORENSICS_TEMPO_USER/PASSWORD were rejected") {
			t.Errorf("%v", err)
		}
	})
	t.Run("bad TraceQL", func(t *testing.T) {
		_, srv := newFakeTempo(t, tempoCfg)
		err := pull(t, nil, srv.URL, TempoOptions{Query: `{ span.foo = "bar" `}, tempoPullOpts())
		want := `/api/search: HTTP 400 Bad Request: invalid TraceQL query: parse error at line 1, col 19: syntax error: unexpected $end (the TraceQL query was { span.foo = "bar")`
		if !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%v\nwant …%s", err, want)
		}
	})
	t.Run("slow", func(t *testing.T) {
		f, srv := newFakeTempo(t, tempoCfg)
		f.slow = 2 * time.Second
		po := tempoPullOpts()
		po.Timeout = 100 * time.Millisecond
		err := pull(t, f, srv.URL, TempoOptions{}, po)
		if !strings.Contains(err.Error(), "no answer within 100ms (--timeout)") || !strings.Contains(err.Error(), "/api/traces/") {
			t.Errorf("%v", err)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		f, srv := newFakeTempo(t, tempoCfg)
		f.huge = true
		po := tempoPullOpts()
		po.MaxResponseBytes = 1 << 20
		err := pull(t, f, srv.URL, TempoOptions{}, po)
		if !strings.Contains(err.Error(), "larger than --max-response-bytes (1 MiB)") {
			t.Errorf("%v", err)
		}
	})
	t.Run("not Tempo", func(t *testing.T) {
		f, srv := newFakeTempo(t, tempoCfg)
		f.html = true
		err := pull(t, f, srv.URL, TempoOptions{}, tempoPullOpts())
		if !strings.Contains(err.Error(), "not JSON (text/html; charset=utf-8") || !strings.Contains(err.Error(), "Tempo's query address, usually port 3200") {
			t.Errorf("%v", err)
		}
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/search" {
				fmt.Fprint(w, `{"status":"success","data":[]}`)
				return
			}
			fmt.Fprint(w, `{"data":[]}`)
		}))
		defer other.Close()
		err = pull(t, nil, other.URL, TempoOptions{}, tempoPullOpts())
		if !strings.Contains(err.Error(), "not a Tempo search result") {
			t.Errorf("%v", err)
		}
		_, err = PullTempo(context.Background(), TempoOptions{URL: other.URL}, TraceQuery{TraceIDs: []string{strings.Repeat("1", 32)}}, tempoPullOpts(), sources.Options{})
		if err == nil || !strings.Contains(err.Error(), "not a Tempo trace") {
			t.Errorf("trace lookup answered by another server: %v", err)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		for _, u := range []string{"tempo:3200", "ftp://tempo:3200", "http://user:s3cret@tempo:3200"} {
			if err := CheckTempoURL(u); err == nil || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: %v", u, err)
			}
		}
	})
}

// 503s are retried with backoff.
func TestPullTempoRetries(t *testing.T) {
	f, srv := newFakeTempo(t, tempoCfg)
	f.fail503 = 2
	lo, hi := tempoWindow(tempoCfg)
	ds, err := PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{Start: lo, End: hi}, tempoPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(traceIDsOf(ds)); n != tempoCfg.Requests {
		t.Errorf("%d traces", n)
	}
	var pe *PullError
	f.fail503 = 100
	_, err = PullTempo(context.Background(), TempoOptions{URL: srv.URL}, TraceQuery{Start: lo, End: hi}, tempoPullOpts(), sources.Options{})
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "too many outstanding requests") {
		t.Errorf("%v", err)
	}
}

// tempoKeep are the attribute keys the Tempo tests keep.
var tempoKeep = []string{"gen_ai.request.model", "gen_ai.usage.input_tokens", "http.response.status_code", "service.version", "deployment.environment.name"}
