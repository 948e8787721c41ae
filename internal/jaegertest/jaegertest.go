// Package jaegertest gives tests a real Jaeger: the one answering on
// 127.0.0.1:16686, or Jaeger v2 all-in-one built from tools/jaeger (a module
// of its own, so Jaeger's dependencies stay out of the project's go.mod) and
// started with in-memory storage on loopback for the length of the test run.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(jaegertest.Main(m)) }
//
// and call Require(t) in each test that needs Jaeger. With CI=true a Jaeger
// that cannot be reached, built or started fails those tests; elsewhere they
// skip, saying how to start one. The first build takes several minutes (the
// Go build cache keeps it afterwards); the binary is kept in build/jaeger.
// Set TRACE_FORENSICS_JAEGER_TESTS=off to skip them without building.
package jaegertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Addresses of the Jaeger the tests use. All are on loopback.
const (
	QueryURL  = "http://127.0.0.1:16686"
	QueryGRPC = "127.0.0.1:16685"
	OTLPURL   = "http://127.0.0.1:4318"
)

// HowToStart tells a developer how to get a Jaeger for these tests.
const HowToStart = `the tests build and start one when the Go module proxy is reachable and ports 4317, 4318, 16685 and 16686 are free; ` +
	`to start one yourself: (cd tools/jaeger && go build -o ../../build/jaeger github.com/jaegertracing/jaeger/cmd/jaeger) && ` +
	`JAEGER_LISTEN_HOST=127.0.0.1 build/jaeger --set=extensions.jaeger_query.http.endpoint=127.0.0.1:16686 ` +
	`--set=extensions.jaeger_query.grpc.endpoint=127.0.0.1:16685`

// startArgs keep the query service on loopback (its default is every
// interface; the other listeners follow JAEGER_LISTEN_HOST) and turn off
// Jaeger's own metrics endpoint, which would take port 8888.
var startArgs = []string{
	"--set=extensions.jaeger_query.http.endpoint=127.0.0.1:16686",
	"--set=extensions.jaeger_query.grpc.endpoint=127.0.0.1:16685",
	"--set=service.telemetry.metrics.level=none",
}

var (
	available  bool
	unavailErr error // why Jaeger is not there
	startedBy  string
)

// Main makes a Jaeger available, runs the tests and stops what it started.
// It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	flag.Parse()
	stop, err := ensure()
	if err != nil {
		unavailErr = err
		fmt.Fprintf(os.Stderr, "jaegertest: no Jaeger for the integration tests: %v\n", err)
	} else {
		available = true
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// Require skips the test (or fails it under CI=true) when no Jaeger is up.
func Require(t testing.TB) {
	t.Helper()
	if available {
		return
	}
	err := unavailErr
	if err == nil {
		err = errors.New("jaegertest.Main was not called from TestMain")
	}
	if inCI() {
		t.Fatalf("CI=true and no Jaeger: %v", err)
	}
	t.Skipf("no Jaeger: %v; %s", err, HowToStart)
}

// StartedBy says where the Jaeger in use came from, for logs.
func StartedBy() string { return startedBy }

func inCI() bool { return os.Getenv("CI") == "true" }

// ensure finds or starts Jaeger; stop is non-nil when it started one.
func ensure() (stop func(), err error) {
	if answers(QueryURL + "/api/services") {
		startedBy = "already running on " + QueryURL
		return nil, nil
	}
	if os.Getenv("TRACE_FORENSICS_JAEGER_TESTS") == "off" && !inCI() {
		return nil, errors.New("TRACE_FORENSICS_JAEGER_TESTS=off")
	}
	if testing.Short() && !inCI() {
		return nil, errors.New("-short: not building or starting Jaeger")
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(root, "build", "jaeger")
	if _, err := os.Stat(bin); err != nil {
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "jaegertest: building Jaeger into %s (the first build takes several minutes)\n", bin)
		if err := Build(root, bin); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "jaegertest: built Jaeger in %s\n", time.Since(t0).Round(time.Second))
	}
	return start(bin)
}

// RepoRoot finds the project's root: the nearest directory above the
// working directory holding tools/jaeger/go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "jaeger", "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("tools/jaeger/go.mod not found above the working directory")
		}
		dir = up
	}
}

// Build compiles Jaeger all-in-one from tools/jaeger into bin.
func Build(root, bin string) error {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "github.com/jaegertracing/jaeger/cmd/jaeger")
	cmd.Dir = filepath.Join(root, "tools", "jaeger")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("building Jaeger (cd tools/jaeger && go build github.com/jaegertracing/jaeger/cmd/jaeger): %v: %s", err, tail(out.String(), 600))
	}
	return os.Rename(tmp, bin)
}

// start runs Jaeger with every listener on loopback and waits until both the
// query service and the OTLP receiver answer.
func start(bin string) (func(), error) {
	logf, err := os.CreateTemp("", "jaegertest-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, startArgs...)
	cmd.Env = append(os.Environ(), "JAEGER_LISTEN_HOST=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logf, logf
	setDeathSignal(cmd) // a test binary killed on timeout takes Jaeger with it
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second): // in-memory data: no need to wait for a clean shutdown
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		os.Remove(logf.Name())
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if answers(QueryURL+"/api/services") && answers(OTLPURL+"/v1/traces") {
			startedBy = fmt.Sprintf("started %s (ready in %s)", bin, time.Since(t0).Round(time.Millisecond))
			fmt.Fprintf(os.Stderr, "jaegertest: %s\n", startedBy)
			return stop, nil
		}
		select {
		case err := <-exited:
			exited <- err
			b, _ := os.ReadFile(logf.Name())
			stop()
			return nil, fmt.Errorf("jaeger exited (%v) before it was ready: %s", err, lastError(string(b)))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			stop()
			return nil, fmt.Errorf("jaeger was not ready after 90s: %s", lastError(string(b)))
		}
	}
}

// answers reports whether a GET gets any HTTP answer below 500.
func answers(u string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// lastError picks the line of Jaeger's log that says why it stopped.
func lastError(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "Error:") {
			return tail(l, 400)
		}
	}
	return tail(log, 400)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

var (
	loadOnce sync.Once
	loadErr  error
)

// LoadSample sends the OTLP JSON Lines file at path to Jaeger (once per
// test binary) and waits until every trace in it can be fetched. A Jaeger
// that already holds the file's traces is left alone, so a long-running
// developer Jaeger does not get them twice.
func LoadSample(t testing.TB, path string) {
	t.Helper()
	Require(t)
	loadOnce.Do(func() { loadErr = loadSample(path) })
	if loadErr != nil {
		t.Fatalf("loading %s into Jaeger: %v", path, loadErr)
	}
}

func loadSample(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ids, err := TraceIDs(b)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("no traces in the file")
	}
	c := http.Client{Timeout: 10 * time.Second}
	if !traceThere(&c, ids[0]) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			resp, err := c.Post(OTLPURL+"/v1/traces", "application/json", bytes.NewReader(line))
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("line %d: OTLP receiver answered %s: %s", n, resp.Status, tail(string(body), 200))
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	// Spans are batched before they are stored: wait for every trace.
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for !traceThere(&c, id) {
			if time.Now().After(deadline) {
				return fmt.Errorf("trace %s was sent but is not in Jaeger after 60s", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The last spans of a trace may land after its first ones.
	time.Sleep(1500 * time.Millisecond)
	return nil
}

func traceThere(c *http.Client, id string) bool {
	resp, err := c.Get(QueryURL + "/api/v3/traces/" + url.PathEscape(id))
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TraceIDs lists the distinct trace IDs of an OTLP JSON Lines file, in
// order of first appearance.
func TraceIDs(jsonl []byte) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(jsonl))
	for {
		var doc struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []struct {
						TraceID string `json:"traceId"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := dec.Decode(&doc); err == io.EOF {
			return ids, nil
		} else if err != nil {
			return nil, err
		}
		for _, rs := range doc.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if !seen[sp.TraceID] {
						seen[sp.TraceID] = true
						ids = append(ids, sp.TraceID)
					}
				}
			}
		}
	}
}
