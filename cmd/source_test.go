package cmd

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// liveServer is a minimal Jaeger api_v3 that holds one trace of two spans
// starting at liveStart, and records the queries and credentials it gets.
type liveServer struct {
	mu      sync.Mutex
	queries []string
	auth    []string
}

var liveStart = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const liveTraceID = "0af7651916cd43dd8448eb211c80319c"

func liveTraceBody() string {
	ns := liveStart.UnixNano()
	return fmt.Sprintf(`{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"front"}}]},"scopeSpans":[{"spans":[`+
		`{"traceId":%q,"spanId":"00f067aa0ba902b7","name":"GET /a","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"},`+
		`{"traceId":%q,"spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","name":"db","kind":3,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}}`,
		liveTraceID, ns, ns+int64(80*time.Millisecond), liveTraceID, ns+int64(time.Millisecond), ns+int64(31*time.Millisecond))
}

func newLiveServer(t *testing.T) (*liveServer, string) {
	s := &liveServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		if r.URL.Path == "/api/v3/traces" {
			s.queries = append(s.queries, r.URL.RawQuery)
		}
		s.mu.Unlock()
		switch {
		case r.URL.Path == "/api/v3/services":
			fmt.Fprint(w, `{"services":["front","back"]}`)
		case r.URL.Path == "/api/v3/operations":
			if r.URL.Query().Get("service") == "front" {
				fmt.Fprint(w, `{"operations":[{"name":"GET /a","spanKind":"server"},{"name":"db","spanKind":"client"}]}`)
			} else {
				fmt.Fprint(w, `{"operations":[]}`)
			}
		case r.URL.Path == "/api/v3/traces/"+liveTraceID:
			fmt.Fprint(w, liveTraceBody())
		case r.URL.Path == "/api/v3/traces" && r.URL.Query().Get("query.service_name") == "front":
			lo, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("query.start_time_min"))
			hi, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("query.start_time_max"))
			if !liveStart.Before(lo) && !liveStart.After(hi) {
				fmt.Fprint(w, liveTraceBody())
				return
			}
			fallthrough
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"httpCode":404,"message":"No traces found"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// liveCommand is a command that reads traces the way every such command
// does (filterOptions and sourceOptions bound, sourceOptions.load called)
// and prints what it got: "N spans" and one line per span name.
func liveCommand(io IO) *cobra.Command {
	root := NewRoot(io)
	var f filterOptions
	var src sourceOptions
	c := &cobra.Command{
		Use:  "pull",
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			src.args = args
			if _, err := f.filter(time.Now()); err != nil {
				return err
			}
			ds, err := src.load(c.Context(), io)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "%d spans\n", ds.Spans)
			var names []string
			for _, op := range ds.Catalog.Ops() {
				names = append(names, op.Service+" "+op.Name)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintln(io.Out, n)
			}
			return nil
		},
	}
	f.bind(c)
	src.bind(c)
	root.AddCommand(c)
	return root
}

// liveRun runs args through liveCommand's tree with the given environment.
func liveRun(t *testing.T, envs map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	io := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return envs[k] }}
	root := liveCommand(io)
	root.SetArgs(args)
	code := exitCode(io, root.Execute())
	return out.String(), errb.String(), code
}

// exitCode mirrors Main's handling of errors.
func exitCode(io IO, err error) int {
	if err == nil {
		return ExitOK
	}
	if ee, ok := err.(exitError); ok {
		if ee.msg != "" {
			fmt.Fprintf(io.Err, "trace-forensics: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(io.Err, "trace-forensics: %v\n", err)
	if _, ok := err.(usageError); ok || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitError
}

func TestLivePullBreakdown(t *testing.T) {
	srv, url := newLiveServer(t)
	since := liveStart.Add(-time.Minute).Format(time.RFC3339)
	out, errOut, code := liveRun(t, map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": "tok"},
		"pull", "--jaeger", url, "--service", "front", "--operation", "GET /a", "--since", since, "--end", liveStart.Add(time.Minute).Format(time.RFC3339), "--limit", "50")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "2 spans\nfront GET /a\nfront db\n" {
		t.Errorf("pulled:\n%s", out)
	}
	q := srv.queries[0]
	for _, want := range []string{"query.service_name=front", "query.operation_name=GET+%2Fa", "query.num_traces=50", "query.start_time_min=2026-03-04T05%3A05%3A07Z", "query.start_time_max=2026-03-04T05%3A07%3A07Z"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %s lacks %s", q, want)
		}
	}
	for _, a := range srv.auth {
		if a != "Bearer tok" {
			t.Errorf("Authorization %q", a)
		}
	}
	if strings.Contains(out+errOut, "tok\"") {
		t.Errorf("the token was printed")
	}
}

func TestLivePullNoMatch(t *testing.T) {
	_, url := newLiveServer(t)
	out, errOut, code := liveRun(t, nil, "pull", "--jaeger", url, "--service", "nobody", "--since", "2h")
	if code != ExitOK || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "no traces matched: jaeger "+url+", service nobody, from ") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestLivePullTraceIDs(t *testing.T) {
	_, url := newLiveServer(t)
	file := filepath.Join(t.TempDir(), "ids.txt")
	os.WriteFile(file, []byte("# from the incident\n0AF7651916CD43DD8448EB211C80319C, 1234\n\n"), 0o644)
	out, errOut, code := liveRun(t, nil, "pull", "--jaeger", url, "--trace-ids-from", file, "--trace-id", liveTraceID)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "2 spans\nfront GET /a\nfront db\n" {
		t.Errorf("pulled:\n%s", out)
	}
}

func TestLivePullSave(t *testing.T) {
	_, url := newLiveServer(t)
	dir := filepath.Join(t.TempDir(), "incident")
	since := liveStart.Add(-time.Minute).Format(time.RFC3339)
	until := liveStart.Add(time.Minute).Format(time.RFC3339)
	live, errOut, code := liveRun(t, nil, "pull", "--jaeger", url, "--service", "front", "--since", since, "--until", until, "--save", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	saved, errOut, code := liveRun(t, nil, "pull", "--service", "front", "--since", since, "--until", until, dir)
	if code != 0 {
		t.Fatalf("reading the saved pull: exit %d: %s", code, errOut)
	}
	if live != saved {
		t.Errorf("saved pull reads back differently:\n%s\n---\n%s", live, saved)
	}
}

func TestLiveFlagErrors(t *testing.T) {
	_, url := newLiveServer(t)
	ids := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(ids, []byte("# nothing\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pull", "--tag", "a=b", "x.json"}, ExitUsage, "--tag needs --jaeger or --jaeger-grpc"},
		{[]string{"pull", "--limit", "5", "x.json"}, ExitUsage, "--limit needs --jaeger"},
		{[]string{"pull", "--max-duration", "1s", "x.json"}, ExitUsage, "--max-duration needs --jaeger"},
		{[]string{"pull", "--jaeger", url, "x.json"}, ExitUsage, "not both"},
		{[]string{"pull", "--jaeger", url, "--jaeger-grpc", "h:1"}, ExitUsage, "--jaeger or --jaeger-grpc, not both"},
		{[]string{"pull"}, ExitUsage, "requires at least 1 arg"},
		{[]string{"pull", "--jaeger", "localhost:16686"}, ExitUsage, "is not a URL like http://localhost:16686"},
		{[]string{"pull", "--jaeger", "http://ann:pw@h:1"}, ExitUsage, "environment variables"},
		{[]string{"pull", "--jaeger-grpc", "nohostport"}, ExitUsage, "not HOST:PORT"},
		{[]string{"pull", "--jaeger", url, "--service", "front", "--tag", "novalue"}, ExitUsage, `--tag "novalue": want key=value`},
		{[]string{"pull", "--jaeger", url, "--trace-id", "xyz"}, ExitUsage, `"x" is not a hex digit`},
		{[]string{"pull", "--jaeger", url, "--trace-ids-from", ids}, ExitUsage, "no trace IDs in it"},
		{[]string{"pull", "--jaeger", url, "--limit", "0"}, ExitUsage, "--limit: must be positive"},
		{[]string{"pull", "--jaeger", url, "--since", "1h", "--start", "2h"}, ExitUsage, "--start and --since say the same thing"},
		{[]string{"pull", "--jaeger", url, "--start", "1h", "--end", "2h"}, ExitUsage, "--start must be before --end"},
		{[]string{"pull", "--jaeger", url, "--max-response-bytes", "lots"}, ExitUsage, "not a positive size"},
		{[]string{"pull", "--jaeger", url, "--timeout", "0s"}, ExitUsage, "--timeout: must be positive"},
		{[]string{"pull", "--jaeger", url, "--service", "front", "--operation", "("}, ExitUsage, "--operation"},
		{[]string{"pull", "--jaeger", "http://127.0.0.1:1", "--service", "front"}, ExitError, "http://127.0.0.1:1/api/v3/services: connection refused"},
	} {
		out, errOut, code := liveRun(t, nil, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

func TestLiveNotices(t *testing.T) {
	_, url := newLiveServer(t)
	_, errOut, _ := liveRun(t, nil, "pull", "--jaeger", url, "--service", "front", "--operation", "GET.*", "--insecure-skip-verify", "--since", "1h")
	for _, want := range []string{
		`--operation "GET.*" is a regexp`,
		"warning: --insecure-skip-verify",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "64KiB": 64 << 10, "128MiB": 128 << 20, "1GiB": 1 << 30, "2mb": 2 << 20, "5 M": 5 << 20} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d %v, want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "0", "x", "1TiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	b := byteSize(128 << 20)
	if b.String() != "128MiB" {
		t.Errorf("String %q", b.String())
	}
}
