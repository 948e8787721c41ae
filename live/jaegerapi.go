package live

// This file pulls traces from Jaeger's query service over HTTP. api_v3
// (OTLP results) is preferred; a server without it is read through the v1
// /api/traces endpoints (Jaeger JSON), and so are searches by tag, which
// api_v3's HTTP gateway does not support. Answers are handed to the same
// decoders as files: `{"result":…}` is OTLP/JSON, `{"data":…}` Jaeger JSON.
// Traces are asked for raw, as recorded: Jaeger's adjusters (clock skew,
// span ID dedup) would hide what analysis is meant to find.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
	"github.com/trace-forensics/trace-forensics/sources"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// jaegerHTTP is a Jaeger query service reached over HTTP.
type jaegerHTTP struct {
	c *httpClient

	once  sync.Once
	v3    bool  // the server has api_v3
	v1    bool  // the server has the v1 endpoints
	probe error // why neither answered
}

// PullJaeger reads the traces q selects from the Jaeger query service at
// baseURL (http://host:16686, optionally with a path prefix).
func PullJaeger(ctx context.Context, baseURL string, q TraceQuery, po PullOptions, opt sources.Options) (*model.Dataset, error) {
	j, err := newJaegerHTTP(baseURL, po)
	if err != nil {
		return nil, err
	}
	if err := j.detect(ctx); err != nil {
		return nil, err
	}
	if len(q.Tags) > 0 && len(q.TraceIDs) == 0 && !j.v1 {
		return nil, &PullError{URL: j.c.base.String(),
			Msg: "this Jaeger has no v1 /api/traces search and its api_v3 HTTP gateway cannot search by tag: use --jaeger-grpc HOST:16685"}
	}
	return pull(ctx, j, q, po, opt)
}

func newJaegerHTTP(baseURL string, po PullOptions) (*jaegerHTTP, error) {
	u, err := parseBaseURL("--jaeger", baseURL)
	if err != nil {
		return nil, err
	}
	c, err := newHTTPClient(u, EnvJaegerPrefix, "Jaeger", "16686", po)
	if err != nil {
		return nil, err
	}
	return &jaegerHTTP{c: c}, nil
}

func (j *jaegerHTTP) name() string { return "jaeger " + redactURL(j.c.base) }

func (j *jaegerHTTP) saveName() string {
	if j.v3 {
		return "jaeger-api_v3"
	}
	return "jaeger-api_v1"
}

// detect finds out which API the server has: api_v3 answers
// /api/v3/services with JSON; a server without it answers 404 or, because
// the UI takes every unknown path, 200 with HTML. Then v1 is tried. A server
// that fails otherwise (5xx, 400) is reported as it is.
func (j *jaegerHTTP) detect(ctx context.Context) error {
	j.once.Do(func() {
		a, err := j.c.get(ctx, "/api/v3/services", nil)
		if err != nil {
			j.probe = err
			return
		}
		lacksV3 := a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed ||
			a.status == http.StatusNotImplemented || (a.status == http.StatusOK && !looksJSON(a.body))
		switch {
		case a.status == http.StatusOK && looksJSON(a.body):
			var v struct {
				Services *[]string `json:"services"`
			}
			if err := json.Unmarshal(a.body, &v); err != nil {
				j.probe = badJSON(a, err)
				return
			}
			if v.Services == nil {
				j.probe = &PullError{URL: a.url, Msg: "the answer is JSON but not a Jaeger services list: is this Jaeger's query address, usually port 16686?"}
				return
			}
			// v1 is assumed beside v3; a search by tag finds out.
			j.v3, j.v1 = true, true
			return
		case !lacksV3:
			j.probe = j.c.statusError(a)
			return
		}
		b, err := j.c.get(ctx, "/api/services", nil)
		if err != nil {
			j.probe = err
			return
		}
		if b.status == http.StatusOK && looksJSON(b.body) {
			var v struct {
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(b.body, &v) == nil && v.Data != nil {
				j.v1 = true
				return
			}
		}
		// Neither: say what the server answered to the v3 probe.
		if a.status == http.StatusOK {
			j.probe = j.c.notJSON(a)
		} else {
			j.probe = j.c.statusError(a)
		}
	})
	return j.probe
}

// search runs one search; api_v3 unless tags need v1.
func (j *jaegerHTTP) search(ctx context.Context, q *TraceQuery, service string, w window, n int) (*page, error) {
	if j.v3 && len(q.Tags) == 0 {
		return j.searchV3(ctx, q, service, w, n)
	}
	return j.searchV1(ctx, q, service, w, n)
}

func (j *jaegerHTTP) searchV3(ctx context.Context, q *TraceQuery, service string, w window, n int) (*page, error) {
	v := url.Values{}
	if service != "" {
		v.Set("query.service_name", service)
	}
	if q.Operation != "" {
		v.Set("query.operation_name", q.Operation)
	}
	v.Set("query.start_time_min", w.start.UTC().Format(time.RFC3339Nano))
	v.Set("query.start_time_max", w.end.UTC().Format(time.RFC3339Nano))
	if q.MinDuration > 0 {
		v.Set("query.duration_min", q.MinDuration.String())
	}
	if q.MaxDuration > 0 {
		v.Set("query.duration_max", q.MaxDuration.String())
	}
	v.Set("query.num_traces", strconv.Itoa(n))
	v.Set("query.raw_traces", "true")
	a, err := j.c.get(ctx, "/api/v3/traces", v)
	if err != nil {
		return nil, err
	}
	return j.v3Page(a, true)
}

func (j *jaegerHTTP) searchV1(ctx context.Context, q *TraceQuery, service string, w window, n int) (*page, error) {
	if service == "" {
		return nil, &PullError{URL: j.c.base.String(), Msg: "Jaeger's v1 search needs a service: give --service"}
	}
	v := url.Values{}
	v.Set("service", service)
	if q.Operation != "" {
		v.Set("operation", q.Operation)
	}
	if len(q.Tags) > 0 {
		tags, err := json.Marshal(q.Tags)
		if err != nil {
			return nil, err
		}
		v.Set("tags", string(tags))
	}
	// µs, widened so that the window still covers its nanosecond bounds.
	v.Set("start", strconv.FormatInt(w.start.UnixMicro(), 10))
	v.Set("end", strconv.FormatInt((w.end.UnixNano()+999)/1000, 10))
	if q.MinDuration > 0 {
		v.Set("minDuration", q.MinDuration.String())
	}
	if q.MaxDuration > 0 {
		v.Set("maxDuration", q.MaxDuration.String())
	}
	v.Set("limit", strconv.Itoa(n))
	v.Set("raw", "true")
	a, err := j.c.get(ctx, "/api/traces", v)
	if err != nil {
		return nil, err
	}
	return j.v1Page(a, true)
}

// fetch gets one trace by ID.
func (j *jaegerHTTP) fetch(ctx context.Context, id string) (*page, error) {
	if j.v3 {
		a, err := j.c.get(ctx, "/api/v3/traces/"+url.PathEscape(id), url.Values{"raw_traces": {"true"}})
		if err != nil {
			return nil, err
		}
		return j.v3Page(a, false)
	}
	a, err := j.c.get(ctx, "/api/traces/"+url.PathEscape(id), url.Values{"raw": {"true"}})
	if err != nil {
		return nil, err
	}
	return j.v1Page(a, false)
}

// v3Answer is an api_v3 body: a result or an error.
type v3Answer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		HTTPCode int    `json:"httpCode"`
		Message  string `json:"message"`
	} `json:"error"`
}

// otlpTraceIDs is just enough of OTLP/JSON to know which traces a body holds.
type otlpTraceIDs struct {
	ResourceSpans []struct {
		ScopeSpans []struct {
			Spans []struct {
				TraceID string  `json:"traceId"`
				Start   flexInt `json:"startTimeUnixNano"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

// flexInt reads a 64-bit integer written as a JSON string or number.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) > 1 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	if string(b) == "null" || len(b) == 0 {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", b)
	}
	*f = flexInt(n)
	return nil
}

// checkAnswer turns an answer that is neither 200 nor a JSON 404 into the
// error to report: Jaeger's "search depth" refusal, the HTTP status, or a
// body that is not JSON.
func (j *jaegerHTTP) checkAnswer(a *httpAnswer) error {
	if a.status != http.StatusOK && a.status != http.StatusNotFound {
		if isSearchDepthError(a.body) {
			return &PullError{URL: a.url, Msg: serverMessage(a.body), Err: errSearchDepth}
		}
		return j.c.statusError(a)
	}
	if !looksJSON(a.body) {
		if a.status == http.StatusNotFound {
			return j.c.statusError(a)
		}
		return j.c.notJSON(a)
	}
	return nil
}

// v3Page reads an api_v3 answer. A 404 "No traces found" is an empty
// result (for a search) or a missing trace (by ID: nil page).
func (j *jaegerHTTP) v3Page(a *httpAnswer, search bool) (*page, error) {
	if err := j.checkAnswer(a); err != nil {
		return nil, err
	}
	var v v3Answer
	if err := json.Unmarshal(a.body, &v); err != nil {
		return nil, badJSON(a, err)
	}
	if a.status == http.StatusNotFound || v.Error != nil {
		if v.Error != nil && (v.Error.HTTPCode == http.StatusNotFound || a.status == http.StatusNotFound) {
			if search {
				return &page{size: int64(len(a.body))}, nil
			}
			return nil, nil
		}
		return nil, j.c.statusError(a)
	}
	if v.Result == nil {
		return nil, &PullError{URL: a.url, Msg: "the answer has neither \"result\" nor \"error\": is this Jaeger's query address, usually port 16686?"}
	}
	var ids otlpTraceIDs
	if err := json.Unmarshal(v.Result, &ids); err != nil {
		return nil, badJSON(a, err)
	}
	starts := map[string]int64{}
	var order []string
	for _, rs := range ids.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				k := traceKey(sp.TraceID)
				s, ok := starts[k]
				if !ok {
					order = append(order, k)
					s = int64(sp.Start)
				}
				starts[k] = min(s, int64(sp.Start))
			}
		}
	}
	pg := &page{body: a.body, size: int64(len(a.body))}
	for _, k := range order {
		pg.traces = append(pg.traces, pageTrace{id: k, start: starts[k]})
	}
	result := v.Result
	pg.encode = func(keep map[string]bool) ([]byte, error) { return filterOTLPJSON(result, keep) }
	if len(pg.traces) == 0 {
		if search {
			return &page{size: int64(len(a.body))}, nil
		}
		return nil, nil
	}
	return pg, nil
}

// filterOTLPJSON keeps the spans of some traces of an OTLP/JSON document.
func filterOTLPJSON(doc []byte, keep map[string]bool) ([]byte, error) {
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(doc)
	if err != nil {
		return nil, err
	}
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				return !keep[traceKey(sp.TraceID().String())]
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	var m ptrace.JSONMarshaler
	return m.MarshalTraces(td)
}

// v1Answer is Jaeger's v1 envelope with traces left raw.
type v1Answer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Code    int    `json:"code"`
		Msg     string `json:"msg"`
		TraceID string `json:"traceID"`
	} `json:"errors"`
}

type v1TraceIDs struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		TraceID   string  `json:"traceID"`
		StartTime flexInt `json:"startTime"`
	} `json:"spans"`
}

// v1Page reads a v1 answer (Jaeger JSON). A 404 with "trace not found" is
// a missing trace.
func (j *jaegerHTTP) v1Page(a *httpAnswer, search bool) (*page, error) {
	if err := j.checkAnswer(a); err != nil {
		return nil, err
	}
	var v v1Answer
	if err := json.Unmarshal(a.body, &v); err != nil {
		return nil, badJSON(a, err)
	}
	if a.status == http.StatusNotFound {
		if len(v.Errors) > 0 && v.Errors[0].Code == http.StatusNotFound {
			if search {
				return &page{size: int64(len(a.body))}, nil
			}
			return nil, nil
		}
		return nil, j.c.statusError(a)
	}
	var raws []json.RawMessage
	if len(v.Data) > 0 && v.Data[0] == '{' { // one trace
		raws = []json.RawMessage{v.Data}
	} else if len(v.Data) > 0 && string(v.Data) != "null" {
		if err := json.Unmarshal(v.Data, &raws); err != nil {
			return nil, badJSON(a, err)
		}
	}
	pg := &page{body: a.body, size: int64(len(a.body))}
	for _, e := range v.Errors {
		pg.notes = append(pg.notes, fmt.Sprintf("the server reported: %s", oneLine(e.Msg, 200)))
	}
	keys := make([]string, len(raws))
	seen := map[string]bool{}
	for i, raw := range raws {
		var t v1TraceIDs
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, badJSON(a, err)
		}
		id := t.TraceID
		var start int64
		for k, sp := range t.Spans {
			if id == "" {
				id = sp.TraceID
			}
			if k == 0 || int64(sp.StartTime) < start {
				start = int64(sp.StartTime)
			}
		}
		keys[i] = traceKey(id)
		if !seen[keys[i]] {
			seen[keys[i]] = true
			pg.traces = append(pg.traces, pageTrace{id: keys[i], start: start * 1000})
		}
	}
	pg.encode = func(keep map[string]bool) ([]byte, error) {
		var out struct {
			Data []json.RawMessage `json:"data"`
		}
		out.Data = []json.RawMessage{}
		for i, raw := range raws {
			if keep[keys[i]] {
				out.Data = append(out.Data, raw)
				delete(keep, keys[i]) // a trace listed twice is kept once
			}
		}
		return json.Marshal(&out)
	}
	if len(pg.traces) == 0 && !search {
		return nil, nil
	}
	return pg, nil
}

// ServiceOperations are the operations the server knows for a service.
type ServiceOperations struct {
	Service    string      `json:"service"`
	Operations []Operation `json:"operations"`
}

// Operation is a span name and, when the server knows it, its span kind.
type Operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"span_kind,omitempty"`
}

// JaegerServices lists services and their operations from the Jaeger query
// service at baseURL. When only is not empty, just those services are listed.
func JaegerServices(ctx context.Context, baseURL string, only []string, po PullOptions) ([]ServiceOperations, error) {
	j, err := newJaegerHTTP(baseURL, po)
	if err != nil {
		return nil, err
	}
	if err := j.detect(ctx); err != nil {
		return nil, err
	}
	services := only
	if len(services) == 0 {
		if services, err = j.services(ctx); err != nil {
			return nil, err
		}
	}
	return listOperations(ctx, services, po.concurrency(), j.operations)
}

func (j *jaegerHTTP) services(ctx context.Context) ([]string, error) {
	path := "/api/services"
	if j.v3 {
		path = "/api/v3/services"
	}
	a, err := j.c.get(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	if err := j.checkJSON(a); err != nil {
		return nil, err
	}
	var v struct {
		Services []string `json:"services"`
		Data     []string `json:"data"`
	}
	if err := json.Unmarshal(a.body, &v); err != nil {
		return nil, badJSON(a, err)
	}
	return append(v.Services, v.Data...), nil
}

func (j *jaegerHTTP) operations(ctx context.Context, service string) ([]Operation, error) {
	path := "/api/operations"
	if j.v3 {
		path = "/api/v3/operations"
	}
	a, err := j.c.get(ctx, path, url.Values{"service": {service}})
	if err != nil {
		return nil, err
	}
	if err := j.checkJSON(a); err != nil {
		return nil, err
	}
	var v struct {
		Operations []Operation `json:"operations"`
		Data       []Operation `json:"data"`
	}
	if err := json.Unmarshal(a.body, &v); err != nil {
		return nil, badJSON(a, err)
	}
	return append(v.Operations, v.Data...), nil
}

func (j *jaegerHTTP) checkJSON(a *httpAnswer) error {
	if a.status != http.StatusOK {
		return j.c.statusError(a)
	}
	if !looksJSON(a.body) {
		return j.c.notJSON(a)
	}
	return nil
}

// UnmarshalJSON accepts api_v3's spanKind and v1's spanKind alike.
func (o *Operation) UnmarshalJSON(b []byte) error {
	var v struct {
		Name     string `json:"name"`
		SpanKind string `json:"spanKind"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Name, o.SpanKind = v.Name, v.SpanKind
	return nil
}

// listOperations asks for the operations of each service with bounded
// concurrency and returns them sorted.
func listOperations(ctx context.Context, services []string, workers int, ops func(context.Context, string) ([]Operation, error)) ([]ServiceOperations, error) {
	out := make([]ServiceOperations, len(services))
	errs := make([]error, len(services))
	sem := make(chan struct{}, max(1, workers))
	var wg sync.WaitGroup
	for i, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			o, err := ops(ctx, s)
			sort.Slice(o, func(a, b int) bool {
				if o[a].Name != o[b].Name {
					return o[a].Name < o[b].Name
				}
				return o[a].SpanKind < o[b].SpanKind
			})
			out[i], errs[i] = ServiceOperations{Service: s, Operations: o}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Service < out[b].Service })
	return out, nil
}

// CheckJaegerURL reports whether raw is usable as --jaeger.
func CheckJaegerURL(raw string) error {
	_, err := parseBaseURL("--jaeger", raw)
	return err
}
