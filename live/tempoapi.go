package live

// This file pulls traces from Grafana Tempo's HTTP API (port 3200): a
// TraceQL search (/api/search) lists trace IDs, then each trace is fetched
// (/api/traces/{id}) as protobuf (Accept: application/protobuf, the compact
// form), or as Tempo's JSON when the server will not send protobuf. The
// plumbing is the shared one (httpclient.go, pull.go): credentials from
// TRACE_FORENSICS_TEMPO_TOKEN or _USER/_PASSWORD, TLS, timeouts, size caps,
// retries, the progress bar and --save.
//
// Protobuf answers are handed to the decoders, and to --save, as OTLP/JSON
// (ptrace's marshaler, hex IDs), so a saved pull is JSON Lines like any
// other; Tempo's JSON answers ({"batches":…}, base64 IDs) go as they came.
//
// Tempo searches in whole seconds and returns the traces whose time range
// meets the window, so each search asks for the enclosing seconds and keeps
// the traces that start inside the window (see searchWindow).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
	"github.com/trace-forensics/trace-forensics/sources"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TempoOptions say which Tempo to pull from and what to search.
type TempoOptions struct {
	// URL is the query frontend (or the monolith): http://tempo:3200,
	// optionally with a path prefix.
	URL string
	// Query is TraceQL. Empty means one built from the TraceQuery's service,
	// operation and tags, or {} (every trace) when it has none.
	Query string
	// OrgID is sent as X-Scope-OrgID, the tenant of a multi-tenant Tempo.
	OrgID string
}

// Tempo's HTTP paths and media types.
const (
	tempoSearchPath = "/api/search"
	tempoTracePath  = "/api/traces/"
	mediaProtobuf   = "application/protobuf"
	mediaJSON       = "application/json"
)

// tempoHTTP is a Tempo query frontend reached over HTTP.
type tempoHTTP struct {
	c     *httpClient
	opt   TempoOptions
	po    PullOptions
	query string // the TraceQL sent when no service is searched

	noProto atomic.Bool // the server does not send protobuf: ask for JSON

	mu        sync.Mutex
	seconds   map[string]tempoSecond // busy seconds read whole, by service and second
	delivered map[string]bool        // traces handed to the pull, by ID
}

// PullTempo reads the traces that t.Query (or q's service, operation and
// tags) selects from Tempo, with q's window, duration bounds, limit and
// trace IDs.
func PullTempo(ctx context.Context, t TempoOptions, q TraceQuery, po PullOptions, opt sources.Options) (*model.Dataset, error) {
	tc, err := newTempoHTTP(t, po)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(t.Query) != "" {
		if len(q.Tags) > 0 {
			return nil, fmt.Errorf("--tag: with --query, put the conditions in the TraceQL query")
		}
		// With TraceQL, services and the span name filter the report only.
		q.Services, q.Operation = nil, ""
	}
	tc.query = tc.traceQL(&q, "")
	return pull(ctx, tc, q, po, opt)
}

func newTempoHTTP(t TempoOptions, po PullOptions) (*tempoHTTP, error) {
	u, err := parseBaseURL("--tempo", t.URL)
	if err != nil {
		return nil, err
	}
	c, err := newHTTPClient(u, EnvTempoPrefix, "Tempo", "3200", po)
	if err != nil {
		return nil, err
	}
	// Tempo needs two headers the shared client does not set: the tenant,
	// and Accept: application/protobuf for trace lookups.
	c.hc.Transport = &tempoTransport{base: c.hc.Transport, orgID: strings.TrimSpace(t.OrgID)}
	return &tempoHTTP{c: c, opt: t, po: po}, nil
}

// CheckTempoURL reports whether raw is usable as --tempo.
func CheckTempoURL(raw string) error {
	_, err := parseBaseURL("--tempo", raw)
	return err
}

// tempoTransport adds X-Scope-OrgID to every request and, for requests
// whose context says so, replaces the Accept header.
type tempoTransport struct {
	base  http.RoundTripper
	orgID string
}

type acceptKey struct{}

// withAccept makes the requests made with ctx ask for media type accept.
func withAccept(ctx context.Context, accept string) context.Context {
	return context.WithValue(ctx, acceptKey{}, accept)
}

func (t *tempoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	accept, _ := r.Context().Value(acceptKey{}).(string)
	if t.orgID == "" && accept == "" {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	if t.orgID != "" {
		r.Header.Set("X-Scope-OrgID", t.orgID)
	}
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return t.base.RoundTrip(r)
}

func (tc *tempoHTTP) name() string     { return "tempo " + redactURL(tc.c.base) }
func (tc *tempoHTTP) saveName() string { return "tempo" }

// traceQL returns the query to search: the user's TraceQL, or one built
// from the conditions a Jaeger search would take, the duration bounds as
// traceDuration (the whole trace's, as the report's --min-duration means).
// With the user's TraceQL the bounds go as the minDuration and maxDuration
// parameters, and the search answers' durations are checked here too.
func (tc *tempoHTTP) traceQL(q *TraceQuery, service string) string {
	if s := strings.TrimSpace(tc.opt.Query); s != "" {
		return s
	}
	var conds []string
	if service != "" {
		conds = append(conds, "resource.service.name = "+strconv.Quote(service))
	}
	if q.Operation != "" {
		conds = append(conds, "name = "+strconv.Quote(q.Operation))
	}
	keys := make([]string, 0, len(q.Tags))
	for k := range q.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conds = append(conds, traceQLAttr(k)+" = "+traceQLValue(q.Tags[k]))
	}
	if q.MinDuration > 0 {
		conds = append(conds, "traceDuration >= "+traceQLDuration(q.MinDuration))
	}
	if q.MaxDuration > 0 {
		conds = append(conds, "traceDuration <= "+traceQLDuration(q.MaxDuration))
	}
	if len(conds) == 0 {
		return "{}"
	}
	return "{ " + strings.Join(conds, " && ") + " }"
}

// traceQLDuration writes a duration in TraceQL's units, exactly.
func traceQLDuration(d time.Duration) string {
	switch {
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d%time.Microsecond == 0:
		return strconv.FormatInt(int64(d/time.Microsecond), 10) + "us"
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// traceQLAttr names an attribute of the span or its resource.
func traceQLAttr(k string) string {
	for _, r := range k {
		if !(r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "." + strconv.Quote(k)
		}
	}
	return "." + k
}

// traceQLValue writes a tag value as TraceQL compares it: integers, floats
// and booleans bare (attributes keep their type), anything else quoted.
func traceQLValue(v string) string {
	if v == "true" || v == "false" {
		return v
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil && strings.ContainsAny(v, ".") {
		return v
	}
	return strconv.Quote(v)
}

// tempoSearchAnswer is /api/search's answer.
type tempoSearchAnswer struct {
	Traces []struct {
		TraceID    string  `json:"traceID"`
		Start      flexInt `json:"startTimeUnixNano"`
		DurationMs flexInt `json:"durationMs"`
	} `json:"traces"`
	Metrics json.RawMessage `json:"metrics"`
}

// tempoFound is a trace a search listed.
type tempoFound struct {
	id    string // 32 hex digits
	start int64  // unix ns
}

// search lists the traces that match and start in w, then fetches those
// not delivered yet. The others stay in the page's list, so that the pull
// sees how full the answer was, and it passes over them as already seen.
func (tc *tempoHTTP) search(ctx context.Context, q *TraceQuery, service string, w window, n int) (*page, error) {
	found, size, notes, err := tc.searchWindow(ctx, q, service, w, n)
	if err != nil {
		return nil, err
	}
	var todo, done []tempoFound
	tc.mu.Lock()
	for _, f := range found {
		if tc.delivered[f.id] {
			done = append(done, f)
		} else {
			todo = append(todo, f)
		}
	}
	tc.mu.Unlock()
	pg, err := tc.fetchMany(ctx, todo)
	if err != nil {
		return nil, err
	}
	for _, f := range done {
		pg.traces = append(pg.traces, pageTrace{id: f.id, start: f.start})
	}
	pg.size += size
	pg.notes = append(notes, pg.notes...)
	return pg, nil
}

// searchWindow returns up to n traces that match and start in w, newest
// first. Tempo searches whole seconds, so the traces of the enclosing
// seconds come back and those outside w are dropped here; when a full
// answer loses traces that way (or to duration bounds the server did not
// apply), the window is split here, so that an answer shorter than n always
// means the window is exhausted. A window within one second cannot be
// narrowed in Tempo's terms: its second is read whole instead.
func (tc *tempoHTTP) searchWindow(ctx context.Context, q *TraceQuery, service string, w window, n int) ([]tempoFound, int64, []string, error) {
	var out []tempoFound
	var size int64
	var notes []string
	stack := []window{w}
	for len(stack) > 0 && len(out) < n {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		need := n - len(out)
		lo, hi := tempoSeconds(cur)
		if hi-lo <= 1 {
			listed, complete, sz, err := tc.searchSecond(ctx, q, service, lo, need)
			size += sz
			if err != nil {
				return nil, size, nil, err
			}
			if !complete {
				notes = append(notes, fmt.Sprintf("more than %d traces meet the second from %s: Tempo searches whole seconds and answered no more, so some may be missing",
					len(listed), time.Unix(lo, 0).UTC().Format(time.RFC3339)))
			}
			in := inWindow(listed, cur)
			out = append(out, in[:min(len(in), need)]...)
			continue
		}
		listed, raw, sz, err := tc.searchRange(ctx, q, service, lo, hi, need)
		size += sz
		if err != nil {
			return nil, size, nil, err
		}
		in := inWindow(listed, cur)
		if raw < need || len(in) == raw {
			out = append(out, in...)
			continue // complete, or nothing dropped: the pull decides on splitting
		}
		// The halves find these traces again, and the ones this answer missed.
		early, late := cur.halves()
		stack = append(stack, early, late) // newest first, as the pull does
	}
	return out, size, notes, nil
}

// tempoSeconds returns the whole seconds that enclose w, as Tempo's start
// and end parameters.
func tempoSeconds(w window) (lo, hi int64) {
	lo, hi = w.start.Unix(), w.end.Unix()
	if w.end.After(time.Unix(hi, 0)) {
		hi++
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// inWindow keeps the traces that start in w (or whose start is unknown),
// newest first.
func inWindow(found []tempoFound, w window) []tempoFound {
	var out []tempoFound
	lo, hi := w.start.UnixNano(), w.end.UnixNano()
	for _, f := range found {
		if f.start == 0 || f.start >= lo && f.start < hi {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start > out[j].start })
	return out
}

// maxSecondLimit caps the page asked for when one second is read whole.
const maxSecondLimit = 20000

// searchSecond lists the matching traces of the second from lo, asking for
// more until the answer is not full. The list is kept for the pull, as the
// halves of a busy second ask for the same second again. It reports false
// when even the largest page came back full.
func (tc *tempoHTTP) searchSecond(ctx context.Context, q *TraceQuery, service string, lo int64, need int) ([]tempoFound, bool, int64, error) {
	key := service + "\x00" + strconv.FormatInt(lo, 10)
	tc.mu.Lock()
	c, ok := tc.seconds[key]
	tc.mu.Unlock()
	if ok {
		return c.found, c.complete, 0, nil
	}
	var size int64
	for limit := max(need, 1); ; limit = min(limit*4, maxSecondLimit) {
		listed, raw, sz, err := tc.searchRange(ctx, q, service, lo, lo+1, limit)
		size += sz
		if err != nil {
			return nil, false, size, err
		}
		if raw < limit || limit >= maxSecondLimit {
			complete := raw < limit
			tc.mu.Lock()
			if tc.seconds == nil {
				tc.seconds = map[string]tempoSecond{}
			}
			tc.seconds[key] = tempoSecond{found: listed, complete: complete}
			tc.mu.Unlock()
			return listed, complete, size, nil
		}
	}
}

// tempoSecond is the whole listing of one busy second.
type tempoSecond struct {
	found    []tempoFound
	complete bool
}

// searchRange runs one search over whole seconds [lo, hi). It returns the
// traces listed that can meet the duration bounds, how many the server
// listed in all, and the answer's size.
func (tc *tempoHTTP) searchRange(ctx context.Context, q *TraceQuery, service string, lo, hi int64, limit int) ([]tempoFound, int, int64, error) {
	query := tc.query
	if service != "" {
		query = tc.traceQL(q, service)
	}
	v := url.Values{}
	v.Set("q", query)
	v.Set("start", strconv.FormatInt(lo, 10))
	v.Set("end", strconv.FormatInt(hi, 10))
	v.Set("limit", strconv.Itoa(limit))
	v.Set("spss", "1") // only the trace IDs are needed
	if q.MinDuration > 0 {
		v.Set("minDuration", q.MinDuration.String())
	}
	if q.MaxDuration > 0 {
		v.Set("maxDuration", q.MaxDuration.String())
	}
	a, err := tc.c.get(ctx, tempoSearchPath, v)
	if err != nil {
		return nil, 0, 0, err
	}
	size := int64(len(a.body))
	if a.status != http.StatusOK {
		err := tc.c.statusError(a)
		if pe, ok := err.(*PullError); ok && a.status == http.StatusBadRequest {
			pe.Msg += fmt.Sprintf(" (the TraceQL query was %s)", oneLine(query, 200))
		}
		return nil, 0, size, err
	}
	if !looksJSON(a.body) {
		return nil, 0, size, tc.c.notJSON(a)
	}
	var ans tempoSearchAnswer
	if err := json.Unmarshal(a.body, &ans); err != nil {
		return nil, 0, size, badJSON(a, err)
	}
	if ans.Traces == nil && ans.Metrics == nil {
		return nil, 0, size, &PullError{URL: a.url, Msg: "the answer is JSON but not a Tempo search result (no \"traces\" or \"metrics\"): is this Tempo's query address, usually port 3200?"}
	}
	var out []tempoFound
	for _, t := range ans.Traces {
		id, err := NormalizeTraceID(t.TraceID) // search drops leading zeros
		if err != nil {
			return nil, 0, size, &PullError{URL: a.url, Msg: "the search answer lists a bad trace ID: " + err.Error()}
		}
		// durationMs is whole ms: keep what could be in bounds; the analysis
		// filter is exact.
		d := time.Duration(t.DurationMs) * time.Millisecond
		if q.MinDuration > 0 && d+time.Millisecond <= q.MinDuration {
			continue
		}
		if q.MaxDuration > 0 && d > q.MaxDuration {
			continue
		}
		out = append(out, tempoFound{id: id, start: int64(t.Start)})
	}
	return out, len(ans.Traces), size, nil
}

// tempoTrace is one trace as fetched: the resource spans of its answer as
// the JSON the decoders read.
type tempoTrace struct {
	tempoFound
	hex []byte // elements of an OTLP/JSON resourceSpans array (hex IDs)
	b64 []byte // elements of a Tempo "batches" array (base64 IDs)
}

// fetch gets one trace by ID; nil when Tempo does not have it.
func (tc *tempoHTTP) fetch(ctx context.Context, id string) (*page, error) {
	t, size, err := tc.fetchOne(ctx, tempoFound{id: id})
	if err != nil || t == nil {
		return nil, err
	}
	pg := tc.pageOf([]*tempoTrace{t})
	pg.size = size
	return pg, nil
}

// fetchMany fetches the listed traces with bounded concurrency. A listed
// trace Tempo no longer has is noted and left out; any other failure ends
// the pull with the first error.
func (tc *tempoHTTP) fetchMany(ctx context.Context, found []tempoFound) (*page, error) {
	traces := make([]*tempoTrace, len(found))
	sizes := make([]int64, len(found))
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(tc.po.concurrency(), len(found)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t, size, err := tc.fetchOne(wctx, found[i])
				if err != nil {
					cancel(err) // the first error is the cause
					return
				}
				traces[i], sizes[i] = t, size
			}
		}()
	}
feed:
	for i := range found {
		select {
		case next <- i:
		case <-wctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(wctx); err != nil {
		return nil, err
	}
	var kept []*tempoTrace
	var size int64
	var notes []string
	for i := range found {
		size += sizes[i]
		if traces[i] == nil {
			notes = append(notes, fmt.Sprintf("trace %s was listed by the search but is no longer there", found[i].id))
			continue
		}
		kept = append(kept, traces[i])
	}
	pg := tc.pageOf(kept)
	pg.size, pg.notes = size, notes
	return pg, nil
}

// pageOf makes a page of fetched traces. Its body is made by encode, for
// the traces the pull keeps, which are then known to be delivered.
func (tc *tempoHTTP) pageOf(traces []*tempoTrace) *page {
	pg := &page{}
	for _, t := range traces {
		pg.traces = append(pg.traces, pageTrace{id: t.id, start: t.start})
	}
	pg.encode = func(keep map[string]bool) ([]byte, error) {
		tc.mu.Lock()
		if tc.delivered == nil {
			tc.delivered = map[string]bool{}
		}
		for id := range keep {
			tc.delivered[id] = true
		}
		tc.mu.Unlock()
		return tempoDoc(traces, keep), nil
	}
	return pg
}

// tempoDoc joins the traces (those in keep, when it is not nil) into one
// document: {"resourceSpans":[…hex…],"batches":[…base64…]}. The decoders
// read each list with its own ID encoding.
func tempoDoc(traces []*tempoTrace, keep map[string]bool) []byte {
	var hex, b64 []byte
	add := func(dst, part []byte) []byte {
		if len(part) == 0 {
			return dst
		}
		if len(dst) > 0 {
			dst = append(dst, ',')
		}
		return append(dst, part...)
	}
	for _, t := range traces {
		if keep != nil && !keep[t.id] {
			continue
		}
		hex, b64 = add(hex, t.hex), add(b64, t.b64)
	}
	doc := []byte(`{"resourceSpans":[`)
	doc = append(doc, hex...)
	doc = append(doc, ']')
	if len(b64) > 0 {
		doc = append(doc, `,"batches":[`...)
		doc = append(doc, b64...)
		doc = append(doc, ']')
	}
	return append(doc, '}')
}

// fetchOne gets one trace: protobuf first, Tempo's JSON when the server
// does not answer protobuf (and from then on).
func (tc *tempoHTTP) fetchOne(ctx context.Context, f tempoFound) (*tempoTrace, int64, error) {
	path := tempoTracePath + url.PathEscape(f.id)
	var size int64
	if !tc.noProto.Load() {
		a, err := tc.c.get(withAccept(ctx, mediaProtobuf), path, nil)
		if err != nil {
			return nil, 0, err
		}
		size += int64(len(a.body))
		switch {
		case a.status == http.StatusNotFound:
			return nil, size, nil
		case a.status == http.StatusNotAcceptable || a.status == http.StatusUnsupportedMediaType:
			tc.noProto.Store(true)
		case a.status != http.StatusOK:
			return nil, size, tc.c.statusError(a)
		case looksJSON(a.body):
			// The server ignored Accept: it sends JSON. Ask for JSON from now on.
			tc.noProto.Store(true)
			t, err := tc.traceFromJSON(a, f)
			return t, size, err
		default:
			t, err := tc.traceFromProto(a, f)
			if err == nil {
				return t, size, nil
			}
			if strings.Contains(a.contentType, "protobuf") {
				return nil, size, err
			}
			// Neither protobuf nor JSON: perhaps a proxy's page; see what the
			// JSON request says before giving up.
			tc.noProto.Store(true)
		}
	}
	a, err := tc.c.get(withAccept(ctx, mediaJSON), path, nil)
	if err != nil {
		return nil, size, err
	}
	size += int64(len(a.body))
	switch {
	case a.status == http.StatusNotFound:
		return nil, size, nil
	case a.status != http.StatusOK:
		return nil, size, tc.c.statusError(a)
	case !looksJSON(a.body):
		return nil, size, tc.c.notJSON(a)
	}
	t, err := tc.traceFromJSON(a, f)
	return t, size, err
}

// traceFromProto reads a protobuf answer and keeps it as OTLP/JSON.
func (tc *tempoHTTP) traceFromProto(a *httpAnswer, f tempoFound) (*tempoTrace, error) {
	td, _, _, err := sources.UnmarshalTempoProto(a.body)
	if err != nil {
		return nil, &PullError{URL: a.url, Msg: "the answer is not a Tempo trace in protobuf: " + oneLine(err.Error(), 200), Err: err}
	}
	if td.SpanCount() == 0 {
		return nil, nil
	}
	var m ptrace.JSONMarshaler
	doc, err := m.MarshalTraces(td)
	if err != nil {
		return nil, err
	}
	list, _ := sources.ArrayField(doc, "resourceSpans")
	t := &tempoTrace{tempoFound: f, hex: list}
	if t.start == 0 {
		t.start = earliestStart(td)
	}
	return t, nil
}

// traceFromJSON reads a JSON answer: {"batches":…} (base64 IDs), or the
// v2 shape some gateways answer at the v1 path.
func (tc *tempoHTTP) traceFromJSON(a *httpAnswer, f tempoFound) (*tempoTrace, error) {
	t := &tempoTrace{tempoFound: f}
	var ok bool
	if t.b64, ok = sources.ArrayField(a.body, "batches"); !ok {
		var v struct {
			Trace json.RawMessage `json:"trace"`
		}
		if json.Unmarshal(a.body, &v) == nil && v.Trace != nil {
			t.b64, ok = sources.ArrayField(v.Trace, "resourceSpans")
		}
	}
	if !ok {
		if string(bytes.TrimSpace(a.body)) == "{}" {
			return nil, nil // an empty trace: Tempo has none of its spans
		}
		return nil, &PullError{URL: a.url, Msg: fmt.Sprintf("the answer is JSON but not a Tempo trace (no \"batches\"; starts with %q): is this Tempo's query address, usually port 3200?",
			oneLine(string(a.body), 60))}
	}
	if len(t.b64) == 0 {
		return nil, nil
	}
	return t, nil
}

// earliestStart is the start of a trace's first span, unix ns.
func earliestStart(td ptrace.Traces) int64 {
	var first int64
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if s := int64(spans.At(k).StartTimestamp()); first == 0 || s < first {
					first = s
				}
			}
		}
	}
	return first
}
