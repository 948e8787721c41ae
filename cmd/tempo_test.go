package cmd

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// tempoServer is a minimal Grafana Tempo HTTP API holding the one trace of
// liveServer, answering lookups in Tempo's v1 JSON.
type tempoServer struct {
	mu       sync.Mutex
	searches []string // q parameters
	orgs     []string
	auth     []string
}

func newTempoServer(t *testing.T) (*tempoServer, string) {
	s := &tempoServer{}
	b64 := func(h string) string {
		b, _ := hex.DecodeString(h)
		return base64.StdEncoding.EncodeToString(b)
	}
	ns := liveStart.UnixNano()
	trace := fmt.Sprintf(`{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"front"}}]},"scopeSpans":[{"spans":[`+
		`{"traceId":%q,"spanId":%q,"name":"GET /a","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"%d","endTimeUnixNano":"%d"},`+
		`{"traceId":%q,"spanId":%q,"parentSpanId":%q,"name":"db","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`,
		b64(liveTraceID), b64("00f067aa0ba902b7"), ns, ns+int64(80*time.Millisecond),
		b64(liveTraceID), b64("00f067aa0ba902b8"), b64("00f067aa0ba902b7"), ns+int64(time.Millisecond), ns+int64(31*time.Millisecond))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.orgs = append(s.orgs, r.Header.Get("X-Scope-OrgID"))
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		switch {
		case r.URL.Path == "/api/search":
			q := r.URL.Query()
			s.mu.Lock()
			s.searches = append(s.searches, q.Get("q"))
			s.mu.Unlock()
			var start, end int64
			fmt.Sscan(q.Get("start"), &start)
			fmt.Sscan(q.Get("end"), &end)
			if strings.Contains(q.Get("q"), "nobody") || liveStart.Unix() < start || liveStart.Unix() >= end {
				fmt.Fprint(w, `{"traces":[],"metrics":{"inspectedBytes":"0"}}`)
				return
			}
			fmt.Fprintf(w, `{"traces":[{"traceID":%q,"rootServiceName":"front","rootTraceName":"GET /a","startTimeUnixNano":"%d","durationMs":80}],"metrics":{}}`,
				strings.TrimLeft(liveTraceID, "0"), ns)
		case r.URL.Path == "/api/traces/"+liveTraceID:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, trace)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "trace not found")
		}
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func TestTempoPull(t *testing.T) {
	srv, url := newTempoServer(t)
	since := liveStart.Add(-time.Minute).Format(time.RFC3339)
	until := liveStart.Add(time.Minute).Format(time.RFC3339)
	out, errOut, code := liveRun(t, map[string]string{"TRACE_FORENSICS_TEMPO_TOKEN": "tok"},
		"pull", "--tempo", url, "--query", `{ resource.service.name = "front" }`, "--org-id", "team-a", "--since", since, "--until", until)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "2 spans\nfront GET /a\nfront db\n" {
		t.Errorf("pulled:\n%s", out)
	}
	if len(srv.searches) == 0 || srv.searches[0] != `{ resource.service.name = "front" }` {
		t.Errorf("searches %q", srv.searches)
	}
	for i := range srv.orgs {
		if srv.orgs[i] != "team-a" || srv.auth[i] != "Bearer tok" {
			t.Errorf("request %d: org %q, auth %q", i, srv.orgs[i], srv.auth[i])
		}
	}
	if strings.Contains(out+errOut, "tok\"") {
		t.Error("the token was printed")
	}

	// Without --query, --service becomes the TraceQL.
	srv, url = newTempoServer(t)
	out, errOut, code = liveRun(t, nil, "pull", "--tempo", url, "--service", "front", "--since", since, "--until", until)
	if code != 0 || out != "2 spans\nfront GET /a\nfront db\n" {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	if srv.searches[0] != `{ resource.service.name = "front" }` {
		t.Errorf("searches %q", srv.searches)
	}
}

func TestTempoPullNoMatch(t *testing.T) {
	_, url := newTempoServer(t)
	out, errOut, code := liveRun(t, nil, "pull", "--tempo", url, "--query", `{ resource.service.name = "nobody" }`, "--since", "2h")
	if code != ExitOK || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, `no traces matched: tempo `+url+`, query { resource.service.name = "nobody" }, from `) {
		t.Errorf("stderr %q", errOut)
	}
}

func TestTempoFlagErrors(t *testing.T) {
	_, url := newTempoServer(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pull", "--query", "{}", "x.json"}, ExitUsage, "--query needs --jaeger or --jaeger-grpc (or --tempo)"},
		{[]string{"pull", "--jaeger", url, "--query", "{}"}, ExitUsage, "--query and --org-id need --tempo"},
		{[]string{"pull", "--jaeger", url, "--org-id", "a"}, ExitUsage, "--query and --org-id need --tempo"},
		{[]string{"pull", "--tempo", url, "--jaeger", url}, ExitUsage, "give --tempo or --jaeger/--jaeger-grpc, not both"},
		{[]string{"pull", "--tempo", url, "x.json"}, ExitUsage, "not both"},
		{[]string{"pull", "--tempo", "tempo:3200"}, ExitUsage, "--tempo"},
		{[]string{"pull", "--tempo", url, "--query", "{}", "--tag", "a=b"}, ExitUsage, "--tag: with --query, put the conditions in the TraceQL query"},
		{[]string{"pull", "--tempo", "http://127.0.0.1:1"}, ExitError, "http://127.0.0.1:1/api/search: connection refused (is Tempo running there? its query port is usually 3200)"},
	} {
		out, errOut, code := liveRun(t, nil, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
