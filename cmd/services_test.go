package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func servicesRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	return out.String(), errb.String(), code
}

func TestServicesText(t *testing.T) {
	_, url := newLiveServer(t)
	out, errOut, code := servicesRun(t, "services", "--jaeger", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "back\n  (no operations)\nfront\n  GET /a  server\n  db      client\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestServicesJSON(t *testing.T) {
	_, url := newLiveServer(t)
	out, errOut, code := servicesRun(t, "services", "--jaeger", url, "--service", "front", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v []struct {
		Service    string
		Operations []struct {
			Name     string `json:"name"`
			SpanKind string `json:"span_kind"`
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(v) != 1 || v[0].Service != "front" || len(v[0].Operations) != 2 || v[0].Operations[1].SpanKind != "client" {
		t.Errorf("%+v", v)
	}
}

func TestServicesErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"services"}, ExitUsage, "give --jaeger URL or --jaeger-grpc HOST:PORT"},
		{[]string{"services", "--jaeger", "http://x:1", "--format", "yaml"}, ExitUsage, `"yaml" is not text or json`},
		{[]string{"services", "--jaeger", "http://127.0.0.1:1"}, ExitError, "http://127.0.0.1:1/api/v3/services: connection refused"},
		{[]string{"services", "--jaeger-grpc", "127.0.0.1:1"}, ExitError, "jaeger-grpc 127.0.0.1:1 GetServices: connection refused"},
		{[]string{"services", "extra", "--jaeger", "http://x:1"}, ExitUsage, "unknown command"},
	} {
		out, errOut, code := servicesRun(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
