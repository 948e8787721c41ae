package jaegertest_test

// Integration tests against a real Jaeger: the project's sample traces are
// sent over OTLP, pulled back over api_v3, v1 and gRPC, and each breakdown
// must equal the breakdown of the file.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/live"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/cmd"
	"github.com/trace-forensics/trace-forensics/internal/jaegertest"
	"github.com/trace-forensics/trace-forensics/sources"
)

func TestMain(m *testing.M) { os.Exit(jaegertest.Main(m)) }

// The sample's traces start between 14:00:00 and 14:00:48 on 2026-11-20.
var (
	sampleStart = time.Date(2026, 11, 20, 13, 59, 0, 0, time.UTC)
	sampleEnd   = time.Date(2026, 11, 20, 14, 2, 0, 0, time.UTC)
)

const sampleService = "chat-gateway" // every sample trace has spans in it

func samplePath(t testing.TB) string {
	t.Helper()
	root, err := jaegertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "testdata", "sample", "chat.otlp.jsonl")
}

// setup makes sure Jaeger holds the sample.
func setup(t *testing.T) string {
	t.Helper()
	p := samplePath(t)
	jaegertest.LoadSample(t, p)
	return p
}

func sampleQuery() live.TraceQuery {
	return live.TraceQuery{Services: []string{sampleService}, Start: sampleStart, End: sampleEnd, Limit: 1000}
}

func pullOpts() live.PullOptions {
	return live.PullOptions{Timeout: 30 * time.Second, Getenv: func(string) string { return "" }}
}

func analyzeDS(t *testing.T, ds *model.Dataset) *analyze.Result {
	t.Helper()
	r, err := analyze.Analyze(ds, analyze.Options{Percentiles: []float64{50, 90, 95, 99, 99.9}, Exemplars: 3})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fileResult(t *testing.T, path string) *analyze.Result {
	t.Helper()
	ds, err := sources.Load(context.Background(), []string{path}, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return analyzeDS(t, ds)
}

// tolerance of a figure in ms: HDR's 3 significant digits, plus slackMs for
// Jaeger's v1 JSON, which truncates times to whole microseconds.
func near(want, got, slackMs float64) bool {
	return math.Abs(want-got) <= 0.001*math.Abs(want)+slackMs+1e-9
}

// sameBreakdown compares two results: counts exactly, times within tolerance.
func sameBreakdown(t *testing.T, what string, want, got *analyze.Result, slackMs float64) {
	t.Helper()
	if got.TracesRead != want.TracesRead || got.Spans != want.Spans || got.Traces != want.Traces {
		t.Errorf("%s: read %d traces, %d spans, %d counted; the file has %d, %d, %d",
			what, got.TracesRead, got.Spans, got.Traces, want.TracesRead, want.Spans, want.Traces)
	}
	sameSummary(t, what+": requests", want.Requests.Summary, got.Requests.Summary, slackMs)
	if got.Requests.Errors != want.Requests.Errors {
		t.Errorf("%s: %d failed requests, the file has %d", what, got.Requests.Errors, want.Requests.Errors)
	}
	ops := map[string]analyze.OperationStats{}
	for _, o := range got.Operations {
		ops[o.Service+" / "+o.Operation] = o
	}
	if len(got.Operations) != len(want.Operations) {
		t.Errorf("%s: %d operations, the file has %d", what, len(got.Operations), len(want.Operations))
	}
	for _, w := range want.Operations {
		k := w.Service + " / " + w.Operation
		g, ok := ops[k]
		if !ok {
			t.Errorf("%s: operation %s missing", what, k)
			continue
		}
		if g.Count != w.Count || g.Errors != w.Errors {
			t.Errorf("%s: %s: count %d errors %d, the file has %d and %d", what, k, g.Count, g.Errors, w.Count, w.Errors)
		}
		sameSummary(t, what+": "+k+": duration", w.Duration, g.Duration, slackMs)
		// Self time subtracts children: each child's truncation adds up.
		sameSummary(t, what+": "+k+": self", w.Self, g.Self, 4*slackMs)
	}
}

func sameSummary(t *testing.T, what string, w, g analyze.Summary, slackMs float64) {
	t.Helper()
	if w.Count != g.Count {
		t.Errorf("%s: count %d, want %d", what, g.Count, w.Count)
		return
	}
	bad := !near(w.Max, g.Max, slackMs) || !near(w.Min, g.Min, slackMs) || !near(w.Mean, g.Mean, slackMs)
	for i := range w.Quantiles {
		bad = bad || !near(w.Quantiles[i], g.Quantiles[i], slackMs)
	}
	if bad {
		t.Errorf("%s: got quantiles %v min %v mean %v max %v; want %v %v %v %v",
			what, g.Quantiles, g.Min, g.Mean, g.Max, w.Quantiles, w.Min, w.Mean, w.Max)
	}
}

// hideV3 is a proxy in front of Jaeger that behaves like a server without
// api_v3: the UI answers every unknown path with its HTML page.
func hideV3(t *testing.T) string {
	t.Helper()
	target, _ := url.Parse(jaegertest.QueryURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><html><body>Jaeger UI</body></html>")
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// requireJaegerJSON skips v1 tests until the Jaeger JSON reader decodes.
func requireJaegerJSON(t *testing.T) {
	t.Helper()
	doc := `{"data":[{"traceID":"1","spans":[{"traceID":"1","spanID":"2","operationName":"x","startTime":1,"duration":1,"processID":"p1"}],"processes":{"p1":{"serviceName":"s"}}}]}`
	ds, err := sources.LoadReader(context.Background(), "probe", strings.NewReader(doc), sources.Options{})
	if err != nil || ds.Spans != 1 {
		t.Skipf("the Jaeger JSON reader does not decode v1 answers yet (%v)", err)
	}
}

func TestJaegerV3MatchesFile(t *testing.T) {
	path := setup(t)
	want := fileResult(t, path)
	ds, err := live.PullJaeger(context.Background(), jaegertest.QueryURL, sampleQuery(), pullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Inputs[0].Format != "otlp-json" {
		t.Errorf("format %q, want otlp-json (api_v3)", ds.Inputs[0].Format)
	}
	sameBreakdown(t, "api_v3", want, analyzeDS(t, ds), 0)
}

func TestJaegerV1MatchesFile(t *testing.T) {
	path := setup(t)
	requireJaegerJSON(t)
	want := fileResult(t, path)
	ds, err := live.PullJaeger(context.Background(), hideV3(t), sampleQuery(), pullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Inputs[0].Format != "jaeger-json" {
		t.Errorf("format %q, want jaeger-json (v1 /api/traces)", ds.Inputs[0].Format)
	}
	sameBreakdown(t, "v1", want, analyzeDS(t, ds), 0.001)
}

func TestJaegerGRPCMatchesFile(t *testing.T) {
	path := setup(t)
	want := fileResult(t, path)
	ds, err := live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, sampleQuery(), pullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameBreakdown(t, "grpc", want, analyzeDS(t, ds), 0)
}

// A page smaller than the sample forces the search to split its window
// again and again; every trace must still come back exactly once.
func TestJaegerPagingSplitsWindows(t *testing.T) {
	path := setup(t)
	want := fileResult(t, path)
	po := pullOpts()
	po.PageSize = 40
	var notes []string
	po.Notify = func(s string) { notes = append(notes, s) }
	for _, c := range []struct {
		name string
		pull func() (*model.Dataset, error)
	}{
		{"api_v3", func() (*model.Dataset, error) {
			return live.PullJaeger(context.Background(), jaegertest.QueryURL, sampleQuery(), po, sources.Options{})
		}},
		{"grpc", func() (*model.Dataset, error) {
			return live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, sampleQuery(), po, sources.Options{})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := c.pull()
			if err != nil {
				t.Fatal(err)
			}
			if n := ds.Warnings.Total(); n != 0 {
				t.Errorf("warnings: %v", ds.Warnings.List())
			}
			sameBreakdown(t, c.name+" paged", want, analyzeDS(t, ds), 0)
		})
	}
	if len(notes) > 0 {
		t.Errorf("unexpected notices: %q", notes)
	}
}

func TestJaegerLimit(t *testing.T) {
	setup(t)
	q := sampleQuery()
	q.Limit = 25
	for _, c := range []struct {
		name string
		pull func(live.PullOptions) (*model.Dataset, error)
	}{
		{"api_v3", func(po live.PullOptions) (*model.Dataset, error) {
			return live.PullJaeger(context.Background(), jaegertest.QueryURL, q, po, sources.Options{})
		}},
		{"grpc", func(po live.PullOptions) (*model.Dataset, error) {
			return live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, q, po, sources.Options{})
		}},
	} {
		for _, page := range []int{0, 10} {
			t.Run(fmt.Sprintf("%s/page%d", c.name, page), func(t *testing.T) {
				po := pullOpts()
				po.PageSize = page
				var notes []string
				po.Notify = func(s string) { notes = append(notes, s) }
				ds, err := c.pull(po)
				if err != nil {
					t.Fatal(err)
				}
				if r := analyzeDS(t, ds); r.TracesRead != 25 {
					t.Errorf("read %d traces, want --limit 25", r.TracesRead)
				}
				if len(notes) != 1 || !strings.Contains(notes[0], "--limit 25") {
					t.Errorf("notices %q, want one about --limit", notes)
				}
			})
		}
	}
}

func TestJaegerTraceIDs(t *testing.T) {
	path := setup(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := jaegertest.TraceIDs(b)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{all[0], all[17], all[299], all[17], "00000000000000000000000000abcdef"}
	q := live.TraceQuery{TraceIDs: ids}
	// The spans of the three traces, from the file.
	ds, err := sources.Load(context.Background(), []string{path}, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantSpans := 0
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, sp := range slab {
				switch sp.Trace.String() {
				case all[0], all[17], all[299]:
					wantSpans++
				}
			}
		}
	}
	pulls := map[string]func() (*model.Dataset, error){
		"api_v3": func() (*model.Dataset, error) {
			return live.PullJaeger(context.Background(), jaegertest.QueryURL, q, pullOpts(), sources.Options{})
		},
		"grpc": func() (*model.Dataset, error) {
			return live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, q, pullOpts(), sources.Options{})
		},
		"v1": func() (*model.Dataset, error) {
			requireJaegerJSON(t)
			return live.PullJaeger(context.Background(), hideV3(t), q, pullOpts(), sources.Options{})
		},
	}
	for _, name := range []string{"api_v3", "grpc", "v1"} {
		t.Run(name, func(t *testing.T) {
			got, err := pulls[name]()
			if err != nil {
				t.Fatal(err)
			}
			if got.Spans != wantSpans {
				t.Errorf("%d spans, want %d", got.Spans, wantSpans)
			}
			if n := got.Warnings.Count(live.WarnTraceNotFound); n != 1 {
				t.Errorf("%d trace_not_found warnings, want 1: %v", n, got.Warnings.List())
			}
		})
	}
}

// --save writes files that read back to the same breakdown, exactly.
func TestJaegerSaveReadsBack(t *testing.T) {
	setup(t)
	type pullFunc func(po live.PullOptions) (*model.Dataset, error)
	cases := []struct {
		name string
		v1   bool
		pull pullFunc
	}{
		{"api_v3", false, func(po live.PullOptions) (*model.Dataset, error) {
			return live.PullJaeger(context.Background(), jaegertest.QueryURL, sampleQuery(), po, sources.Options{})
		}},
		{"grpc", false, func(po live.PullOptions) (*model.Dataset, error) {
			return live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, sampleQuery(), po, sources.Options{})
		}},
		{"v1", true, nil},
	}
	for _, c := range cases {
		for _, page := range []int{0, 35} { // small pages: answers overlap and are re-encoded
			t.Run(fmt.Sprintf("%s/page%d", c.name, page), func(t *testing.T) {
				pull := c.pull
				if c.v1 {
					requireJaegerJSON(t)
					base := hideV3(t)
					pull = func(po live.PullOptions) (*model.Dataset, error) {
						return live.PullJaeger(context.Background(), base, sampleQuery(), po, sources.Options{})
					}
				}
				dir := filepath.Join(t.TempDir(), "pull")
				po := pullOpts()
				po.SaveDir, po.PageSize = dir, page
				ds, err := pull(po)
				if err != nil {
					t.Fatal(err)
				}
				pulled := analyzeDS(t, ds)
				back, err := sources.Load(context.Background(), []string{dir}, sources.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if w := back.Warnings.List(); len(w) != 0 {
					t.Errorf("reading the saved pull back: warnings %v", w)
				}
				sameBreakdown(t, "saved "+c.name, pulled, analyzeDS(t, back), 0)
				if _, err := os.Stat(filepath.Join(dir, live.ManifestName)); err != nil {
					t.Errorf("no manifest: %v", err)
				}
			})
		}
	}
}

// Tag searches go through v1 over HTTP (api_v3's gateway ignores tags) and
// through FindTraces over gRPC; both must find the traces that carry the tag.
func TestJaegerTagSearch(t *testing.T) {
	path := setup(t)
	requireJaegerJSON(t)
	const key, value = "prompt.version", "B"
	ds, err := sources.Load(context.Background(), []string{path}, sources.Options{Keep: []string{key}})
	if err != nil {
		t.Fatal(err)
	}
	shapes, ops := ds.Catalog.Shapes(), ds.Catalog.Ops()
	want := map[string]bool{}
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, sp := range slab {
				sh := shapes[sp.Shape]
				if v, ok := sh.Attr(key); ok && v == value && ops[sh.Op].Service == sampleService {
					want[sp.Trace.String()] = true
				}
			}
		}
	}
	if len(want) == 0 || len(want) == 300 {
		t.Fatalf("%d sample traces have %s=%s: pick another tag", len(want), key, value)
	}
	q := sampleQuery()
	q.Tags = map[string]string{key: value}
	for name, pull := range map[string]func() (*model.Dataset, error){
		"http": func() (*model.Dataset, error) {
			return live.PullJaeger(context.Background(), jaegertest.QueryURL, q, pullOpts(), sources.Options{})
		},
		"grpc": func() (*model.Dataset, error) {
			return live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, q, pullOpts(), sources.Options{})
		},
	} {
		got, err := pull()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := analyzeDS(t, got); r.TracesRead != len(want) {
			t.Errorf("%s: %d traces with %s=%s, the file has %d", name, r.TracesRead, key, value, len(want))
		}
	}
}

func TestJaegerNoTracesMatched(t *testing.T) {
	setup(t)
	q := sampleQuery()
	q.Services = []string{"no-such-service"}
	ds, err := live.PullJaeger(context.Background(), jaegertest.QueryURL, q, pullOpts(), sources.Options{})
	if err != nil {
		t.Fatalf("api_v3: %v", err)
	}
	if ds.Spans != 0 {
		t.Errorf("api_v3: %d spans", ds.Spans)
	}
	ds, err = live.PullJaegerGRPC(context.Background(), jaegertest.QueryGRPC, q, pullOpts(), sources.Options{})
	if err != nil {
		t.Fatalf("grpc: %v", err)
	}
	if ds.Spans != 0 {
		t.Errorf("grpc: %d spans", ds.Spans)
	}
}

// runCLI runs trace-forensics in-process.
func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = cmd.Main(args, cmd.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	return out.String(), errb.String(), code
}

func TestJaegerServicesCommand(t *testing.T) {
	setup(t)
	for _, args := range [][]string{
		{"services", "--jaeger", jaegertest.QueryURL},
		{"services", "--jaeger-grpc", jaegertest.QueryGRPC},
		{"services", "--jaeger", hideV3(t)},
	} {
		out, errOut, code := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		for _, want := range []string{"chat-gateway\n", "  POST /v1/chat ", "retrieval\n", "  rerank "} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
}

// The CLI end to end: `breakdown --jaeger …` prints what `breakdown FILE`
// prints for the same traces.
func TestJaegerBreakdownCommand(t *testing.T) {
	path := setup(t)
	if _, errOut, code := runCLI("breakdown", "--jaeger", jaegertest.QueryURL, "--help"); code != 0 || strings.Contains(errOut, "unknown flag") {
		t.Skip("breakdown does not bind the live-pull flags yet (cmd/breakdown.go: opts.Source.bind(c))")
	}
	window := []string{"--since", sampleStart.Format(time.RFC3339), "--until", sampleEnd.Format(time.RFC3339)}
	fileOut, errOut, code := runCLI(append([]string{"breakdown", "--format", "csv", path}, window...)...)
	if code != 0 {
		t.Fatalf("breakdown FILE: exit %d: %s", code, errOut)
	}
	for _, src := range [][]string{
		{"--jaeger", jaegertest.QueryURL},
		{"--jaeger-grpc", jaegertest.QueryGRPC},
	} {
		args := append(append([]string{"breakdown", "--format", "csv", "--service", sampleService}, src...), window...)
		// --service also filters the report: compare with the file filtered alike.
		want, _, _ := runCLI(append([]string{"breakdown", "--format", "csv", "--service", sampleService, path}, window...)...)
		got, errOut, code := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if got != want {
			t.Errorf("%v: output differs from the file's:\n--- file\n%s\n--- jaeger\n%s", args, want, got)
		}
	}
	_ = fileOut

	// No match: exit 0 and say so.
	out, errOut, code := runCLI("breakdown", "--jaeger", jaegertest.QueryURL, "--service", "no-such-service",
		"--start", sampleStart.Format(time.RFC3339), "--end", sampleEnd.Format(time.RFC3339))
	if code != 0 || out != "" || !strings.Contains(errOut, "no traces matched") {
		t.Errorf("no match: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLoadSampleIsComplete(t *testing.T) {
	path := setup(t)
	b, _ := os.ReadFile(path)
	ids, _ := jaegertest.TraceIDs(b)
	sort.Strings(ids)
	if len(ids) != 300 {
		t.Fatalf("the sample has %d traces; these tests assume 300", len(ids))
	}
	t.Logf("Jaeger: %s", jaegertest.StartedBy())
}
