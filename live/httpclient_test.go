package live

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/sources"
)

const testSecret = "s3cr3t-t0ken"

// env returns a Getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// refusedAddr is a loopback port nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// servicesOK answers the api_v3 probe so that a test reaches the search.
func servicesOK(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path == "/api/v3/services" {
		fmt.Fprint(w, `{"services":["svc"]}`)
		return true
	}
	return false
}

// Every failure is one line that names the URL, never the credentials, and
// says what went wrong.
func TestPullErrors(t *testing.T) {
	slowDone := make(chan struct{})
	t.Cleanup(func() { close(slowDone) })
	handler := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	plain := handler(func(w http.ResponseWriter, r *http.Request) { servicesOK(w, r) })

	big := bytes.Repeat([]byte(" "), 2<<20)
	cases := []struct {
		name string
		url  string
		env  map[string]string
		opt  func(*PullOptions)
		want []string
	}{
		{name: "connection refused", url: "http://" + refusedAddr(t),
			want: []string{"/api/v3/services: connection refused", "is Jaeger running there?"}},
		{name: "dns", url: "http://nohost.invalid:16686",
			want: []string{"http://nohost.invalid:16686/api/v3/services", `cannot resolve host "nohost.invalid"`}},
		{name: "tls unknown authority", url: tlsSrv.URL,
			want: []string{tlsSrv.URL + "/api/v3/services", "TLS", "unknown authority", "--ca-file"}},
		{name: "https to plain http", url: strings.Replace(plain, "http://", "https://", 1),
			want: []string{"TLS handshake failed", "plain HTTP"}},
		{name: "401 without credentials", url: handler(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}), want: []string{"HTTP 401 Unauthorized", "TRACE_FORENSICS_JAEGER_TOKEN", "TRACE_FORENSICS_JAEGER_USER"}},
		{name: "401 with a token", env: map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": testSecret},
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, "bad token "+r.Header.Get("Authorization"))
			}), want: []string{"HTTP 401 Unauthorized", "credentials from TRACE_FORENSICS_JAEGER_TOKEN were rejected"}},
		{name: "403", env: map[string]string{"TRACE_FORENSICS_JAEGER_USER": "ann", "TRACE_FORENSICS_JAEGER_PASSWORD": testSecret},
			url:  handler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }),
			want: []string{"HTTP 403 Forbidden", "TRACE_FORENSICS_JAEGER_USER/PASSWORD are not allowed"}},
		{name: "not json", url: handler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "hello from a web server\nsecond line")
		}), want: []string{"/api/v3/services: the answer is not JSON (text/plain", `"hello from a web server`, "port 16686"}},
		{name: "garbage json", url: handler(func(w http.ResponseWriter, r *http.Request) {
			if !servicesOK(w, r) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"result": {"resourceSpans": [tru`)
			}
		}), want: []string{"/api/v3/traces: the answer is not valid JSON"}},
		{name: "timeout", opt: func(o *PullOptions) { o.Timeout = 150 * time.Millisecond },
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-slowDone:
				case <-time.After(5 * time.Second):
				}
			}), want: []string{"/api/v3/services: no answer within 150ms (--timeout)"}},
		{name: "slow body", opt: func(o *PullOptions) { o.Timeout = 150 * time.Millisecond },
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				if servicesOK(w, r) {
					return
				}
				fmt.Fprint(w, `{"result":`)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-slowDone:
				case <-time.After(5 * time.Second):
				}
			}), want: []string{"/api/v3/traces: no answer within 150ms (--timeout)"}},
		{name: "oversized, length known", opt: func(o *PullOptions) { o.MaxResponseBytes = 1 << 20 },
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				if !servicesOK(w, r) {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)+2))
					w.Write([]byte("{}"))
					w.Write(big)
				}
			}), want: []string{"/api/v3/traces: the answer is larger than --max-response-bytes (1 MiB)"}},
		{name: "oversized, chunked", opt: func(o *PullOptions) { o.MaxResponseBytes = 1 << 20 },
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				if !servicesOK(w, r) {
					w.Write([]byte("{"))
					w.(http.Flusher).Flush()
					w.Write(big)
				}
			}), want: []string{"larger than --max-response-bytes (1 MiB)"}},
		{name: "500 with a message", opt: func(o *PullOptions) { o.Retries = -1 },
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				if !servicesOK(w, r) {
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprint(w, `{"error":{"httpCode":500,"message":"storage is down"}}`)
				}
			}), want: []string{"/api/v3/traces: HTTP 500 Internal Server Error: storage is down"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			po := testPullOpts()
			po.Getenv = env(c.env)
			if c.opt != nil {
				c.opt(&po)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// The window spans a minute: each failure is met on the first search.
			now := time.Now()
			_, err := PullJaeger(ctx, c.url, TraceQuery{Services: []string{"svc"}, Start: now.Add(-time.Minute), End: now}, po, sources.Options{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			if strings.Contains(msg, testSecret) {
				t.Errorf("message shows the secret: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			var pe *PullError
			if !errors.As(err, &pe) {
				t.Errorf("%T is not a *PullError", err)
			}
		})
	}
}

func TestBadBaseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"localhost:16686":                   "not a URL",
		"ftp://localhost:16686":             "scheme must be http or https",
		"http://ann:" + testSecret + "@h:1": "put credentials in environment variables",
		"http://ann@h:1/":                   "put credentials in environment variables",
	} {
		err := CheckJaegerURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "ann")) {
			t.Errorf("%s: message shows credentials: %v", raw, err)
		}
	}
	if err := CheckJaegerURL("https://jaeger.example.com/prefix/"); err != nil {
		t.Error(err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:p@host:1/a?q=1#f": "http://host:1/a",
		"host:16685":                "host:16685",
		"u:p@host:16685":            "host:16685",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentials(t *testing.T) {
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"services":[]}`)
	}))
	defer srv.Close()
	for _, c := range []struct {
		env  map[string]string
		want string
		err  string
	}{
		{env: nil, want: ""},
		{env: map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": "tok"}, want: "Bearer tok"},
		{env: map[string]string{"TRACE_FORENSICS_JAEGER_USER": "ann", "TRACE_FORENSICS_JAEGER_PASSWORD": "pw"}, want: "Basic YW5uOnB3"},
		{env: map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": "tok", "TRACE_FORENSICS_JAEGER_USER": "ann"}, err: "not both"},
		{env: map[string]string{"TRACE_FORENSICS_JAEGER_PASSWORD": "pw"}, err: "TRACE_FORENSICS_JAEGER_USER is not"},
		// Tempo's variables do not leak into Jaeger requests.
		{env: map[string]string{"TRACE_FORENSICS_TEMPO_TOKEN": "tok"}, want: ""},
	} {
		seen.Store("")
		po := testPullOpts()
		po.Getenv = env(c.env)
		_, err := JaegerServices(context.Background(), srv.URL, nil, po)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.env, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := seen.Load().(string); got != c.want {
			t.Errorf("%v: Authorization %q, want %q", c.env, got, c.want)
		}
	}
}

// A redirect to another host does not carry the credentials along.
func TestCredentialsNotSentToRedirectTarget(t *testing.T) {
	var got atomic.Value
	got.Store("unset")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"services":[]}`)
	}))
	defer other.Close()
	// Same port space, another host name: localhost vs 127.0.0.1.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.Path, http.StatusFound)
	}))
	defer srv.Close()
	po := testPullOpts()
	po.Getenv = env(map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": testSecret})
	if _, err := JaegerServices(context.Background(), srv.URL, nil, po); err != nil {
		t.Fatal(err)
	}
	if g := got.Load().(string); g != "" {
		t.Errorf("the redirect target got Authorization %q", g)
	}
}

func TestRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			fmt.Fprint(w, `{"services":["a"]}`)
		}
	}))
	defer srv.Close()
	po := testPullOpts()
	po.Concurrency = 1
	list, err := JaegerServices(context.Background(), srv.URL, []string{"a"}, po)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || calls.Load() < 3 {
		t.Errorf("list %v after %d calls", list, calls.Load())
	}

	// Always failing: 1 try + 3 retries, then the status is the error.
	calls.Store(-1000)
	var always atomic.Int32
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		always.Add(1)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "upstream down")
	}))
	defer srv2.Close()
	_, err = JaegerServices(context.Background(), srv2.URL, nil, po)
	if err == nil || !strings.Contains(err.Error(), "HTTP 502 Bad Gateway: upstream down") {
		t.Errorf("err %v", err)
	}
	if n := always.Load(); n != 1+DefaultPullRetries {
		t.Errorf("%d requests, want %d", n, 1+DefaultPullRetries)
	}
}

// A custom CA makes a TLS server trusted; --insecure-skip-verify too.
func TestTLSTrust(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"services":["a"]}`)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	po := testPullOpts()
	po.CAFile = ca
	if _, err := JaegerServices(context.Background(), srv.URL, []string{"a"}, po); err != nil {
		t.Errorf("--ca-file: %v", err)
	}
	po = testPullOpts()
	po.InsecureSkipVerify = true
	if _, err := JaegerServices(context.Background(), srv.URL, []string{"a"}, po); err != nil {
		t.Errorf("--insecure-skip-verify: %v", err)
	}
	po = testPullOpts()
	po.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := JaegerServices(context.Background(), srv.URL, nil, po); err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("missing CA file: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	po.CAFile = notPEM
	if _, err := JaegerServices(context.Background(), srv.URL, nil, po); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("not PEM: %v", err)
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "pulling", 10)
	p.add(4, 2048)
	p.finish()
	out := b.String()
	if !strings.Contains(out, "pulling: [") || !strings.Contains(out, "4/10 traces, 2 KiB") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("progress output %q", out)
	}
	var silent *progress = newProgress(nil, "x", 0)
	silent.add(1, 1)
	silent.finish()
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\x00b\nsecond", 10); got != "a?b …" {
		t.Errorf("%q", got)
	}
	if got := oneLine(strings.Repeat("x", 20), 5); got != "xxxxx…" {
		t.Errorf("%q", got)
	}
}
