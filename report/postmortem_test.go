package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/sources"
)

// sampleResult analyses generated chat traces (with their planted PII) the
// way the report command does, grouped by prompt.version.
func sampleResult(t testing.TB, requests int) *analyze.Result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: requests, Seed: 7, LLMFactor: map[string]float64{"B": 1.3}, ErrorRate: 0.03}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := analyze.DefaultStageRules()
	keep := append(rules.Keys(), "prompt.version")
	ds, err := sources.Load(context.Background(), []string{path}, sources.Options{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	res, err := analyze.Analyze(ds, analyze.Options{Stages: rules, GroupBy: "prompt.version"})
	if err != nil {
		t.Fatal(err)
	}
	res.Inputs[0].Name = "traces.jsonl"
	return res
}

// sampleWaterfall is a hand-built trace: a fan-out with one branch on the
// path, an async consumer and an error.
func sampleWaterfall() *Waterfall {
	ms := int64(time.Millisecond)
	return &Waterfall{
		Title: "Slowest request: trace 4bf92f3577b34da6a3ce929d0e0e4736", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", TotalNs: 1200 * ms,
		Spans: []WaterfallSpan{
			{Label: "chat-gateway: POST /v1/chat", Stage: "request entry", Color: Palette[3], StartNs: 0, EndNs: 1200 * ms, Path: [][2]int64{{0, 10 * ms}, {1100 * ms, 1200 * ms}}, PathNs: 110 * ms},
			{Label: "chat-gateway: orchestrate", Stage: "service fan-out", Color: Palette[2], Depth: 1, StartNs: 10 * ms, EndNs: 200 * ms, Path: [][2]int64{{10 * ms, 20 * ms}}, PathNs: 10 * ms},
			{Label: "retrieval: retrieve", Stage: "retrieval and reranking", Color: Palette[1], Depth: 2, StartNs: 20 * ms, EndNs: 200 * ms, Path: [][2]int64{{20 * ms, 200 * ms}}, PathNs: 180 * ms},
			{Label: "profile-service: GET /profile", Stage: "service fan-out", Color: Palette[2], Depth: 2, StartNs: 20 * ms, EndNs: 60 * ms},
			{Label: "llm-gateway: chat gpt-4o", Stage: "LLM invocation", Color: Palette[0], Depth: 1, StartNs: 200 * ms, EndNs: 1100 * ms, Error: true, Path: [][2]int64{{200 * ms, 1100 * ms}}, PathNs: 900 * ms},
			{Label: "analytics-worker: analytics.events process", Stage: "analytics emission", Color: Palette[4], Depth: 2, StartNs: 1150 * ms, EndNs: 1300 * ms, Async: true},
		},
	}
}

func checkSVG(t *testing.T, name, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v\n%s", name, err, svg[:min(len(svg), 400)])
		}
	}
	if !strings.HasPrefix(svg, `<svg xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("%s: no SVG namespace", name)
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Errorf("%s has NaN or Inf coordinates", name)
	}
	if regexp.MustCompile(`(?i)(href|src)=|url\(`).MatchString(svg) {
		t.Errorf("%s refers to something outside itself", name)
	}
}

func TestChartsFromResult(t *testing.T) {
	r := sampleResult(t, 400)
	bars := BandsChart(r)
	if bars == nil || len(bars.Bars) != len(analyze.Bands) {
		t.Fatalf("bands chart: %+v", bars)
	}
	// A bar's segments add up to its band's mean latency.
	for i, b := range bars.Bars {
		sum := 0.0
		for _, v := range b.Values {
			sum += v
		}
		want := r.Bands[i].Requests.Mean
		if d := sum - want; d > want*0.01 || d < -want*0.01 {
			t.Errorf("band %s: segments add up to %.1fms, mean is %.1fms", b.Label, sum, want)
		}
	}
	// The tail bar is the longest.
	total := func(b StackedBar) (s float64) {
		for _, v := range b.Values {
			s += v
		}
		return
	}
	if total(bars.Bars[len(bars.Bars)-1]) <= total(bars.Bars[0]) {
		t.Error("p99+ bar is not longer than the p0-p50 one")
	}
	checkSVG(t, "bands", bars.SVG())

	h := DistributionChart(r)
	if h == nil || h.Rows[0].Name != "end to end" || len(h.Rows) < 4 {
		t.Fatalf("distribution chart: %+v", h)
	}
	for _, row := range h.Rows {
		var n int64
		for _, b := range row.Bins {
			n += b.Count
		}
		if n+row.Zeros != row.Total {
			t.Errorf("%s: bins hold %d + %d zeros of %d values", row.Name, n, row.Zeros, row.Total)
		}
	}
	if h.Rows[0].Zeros != 0 {
		t.Error("end-to-end latency has zeros")
	}
	svg := h.SVG()
	checkSVG(t, "distribution", svg)
	if strings.Count(svg, `data-bin="1"`) < 20 {
		t.Error("distribution chart has few bars")
	}
	wf := sampleWaterfall().SVG()
	checkSVG(t, "waterfall", wf)
	if strings.Count(wf, `data-path="1"`) != 5 || strings.Count(wf, `data-span="1"`) != 6 {
		t.Errorf("waterfall: %d path slices, %d spans", strings.Count(wf, `data-path="1"`), strings.Count(wf, `data-span="1"`))
	}
}

func TestSVGEscapesNames(t *testing.T) {
	c := &StackedBars{Title: `<script>alert("x")</script> & co`, Series: []string{`a"b<c>`}, Colors: []string{Palette[0]},
		Bars: []StackedBar{{Label: "p50 <&>", Values: []float64{5}}}}
	svg := c.SVG()
	checkSVG(t, "escaped", svg)
	if strings.Contains(svg, "<script>") || strings.Contains(svg, `a"b`) {
		t.Error("names are not escaped")
	}
}

func TestPostmortemMarkdown(t *testing.T) {
	r := sampleResult(t, 400)
	assets := map[string][]byte{}
	var out bytes.Buffer
	err := PostmortemMarkdown(&out, r, PostmortemOptions{
		Title: "Chat latency, 20 Nov", SLO: 1500 * time.Millisecond, TraceURL: "https://jaeger.example/trace/{id}",
		Waterfall: sampleWaterfall(), Assets: "chat-assets",
		WriteAsset: func(name string, svg []byte) error { assets[name] = svg; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	md := out.String()
	// The summary comes first, then the detail in the order.
	order := []string{"# Chat latency, 20 Nov", "## Summary", "p95 end to end", "SLO", "of requests failed", "Most of the time goes to",
		"## Requests", "**Sources**", "## Stage breakdown", "## Tail anatomy", "## Groups by prompt.version", "## Missing instrumentation", "## Slowest traces", "## Operations", "## Data quality"}
	at := 0
	for _, s := range order {
		i := strings.Index(md[at:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", s, md)
		}
		at += i
	}
	for _, name := range []string{"latency-distribution.svg", "stage-bands.svg", "slowest-trace.svg"} {
		if _, ok := assets[name]; !ok {
			t.Errorf("asset %s not written", name)
		}
		if !strings.Contains(md, "](chat-assets/"+name+")") {
			t.Errorf("%s not linked", name)
		}
		checkSVG(t, name, string(assets[name]))
	}
	if !strings.Contains(md, "[`"+r.Requests.Exemplars[0]+"`](https://jaeger.example/trace/"+r.Requests.Exemplars[0]+")") {
		t.Error("slowest trace not linked")
	}
	// Every table row has as many cells as its header.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && !strings.HasSuffix(line, "|") {
			t.Errorf("broken table row %q", line)
		}
	}
	// Without an asset writer the charts are left out, not linked.
	out.Reset()
	if err := PostmortemMarkdown(&out, r, PostmortemOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "![") {
		t.Error("charts linked without assets")
	}
}

func TestPostmortemHTMLSelfContained(t *testing.T) {
	r := sampleResult(t, 300)
	r.Operations[0].Operation = `<img src=x onerror=alert(1)>`
	var out bytes.Buffer
	if err := PostmortemHTML(&out, r, PostmortemOptions{SLO: 2 * time.Second, TraceURL: "javascript:alert(1)//{id}", Waterfall: sampleWaterfall()}); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	if strings.Contains(page, "<img") || strings.Contains(page, "javascript:") {
		t.Error("a name or the trace URL got into the page as markup")
	}
	// Nothing is fetched: no external references at all.
	for _, re := range []string{`(?i)<link\b`, `(?i)<[a-z][^>]*\ssrc\s*=`, `(?i)@import`, `(?i)url\(`, `(?i)https?://(?:[^"]*w3\.org)?`, `(?i)href="[^#]`} {
		for _, m := range regexp.MustCompile(re).FindAllString(page, -1) {
			if strings.Contains(m, "w3.org") {
				continue // the SVG namespace, not fetched
			}
			t.Errorf("page refers outside itself: %q", m)
		}
	}
	if n := strings.Count(page, "<svg "); n != 3 {
		t.Errorf("%d charts, want 3", n)
	}
	if !strings.Contains(page, "Content-Security-Policy") {
		t.Error("no CSP")
	}
	if !strings.Contains(page, `class="sortable"`) || !strings.Contains(page, "data-sort=") {
		t.Error("tables are not sortable")
	}
}

func TestSummarySentences(t *testing.T) {
	r := sampleResult(t, 400)
	p99 := r.Requests.Summary.Quantiles[slices.Index(r.Percentiles, 99)]
	s := strings.Join(pmSummary(r, &PostmortemOptions{SLO: time.Duration(p99/2) * time.Millisecond}), " ")
	if !strings.Contains(s, "p99 is 100% over") && !strings.Contains(s, "p99 is 99% over") && !strings.Contains(s, "p99 is 101% over") {
		t.Errorf("SLO sentence: %s", s)
	}
	if !strings.Contains(s, "Most of the time goes to LLM invocation") {
		t.Errorf("top stage: %s", s)
	}
	if !strings.Contains(s, "the difference is mostly LLM invocation") {
		t.Errorf("tail: %s", s)
	}
	s = strings.Join(pmSummary(r, &PostmortemOptions{SLO: time.Hour}), " ")
	if !strings.Contains(s, "within the 1h00m SLO") || !strings.Contains(s, "0.0% of requests (0) took longer") {
		t.Errorf("within SLO: %s", s)
	}
	empty := &analyze.Result{Percentiles: []float64{50, 95, 99}}
	if s := pmSummary(empty, &PostmortemOptions{}); len(s) != 1 || !strings.Contains(s[0], "No request matched") {
		t.Errorf("empty: %v", s)
	}
}

func TestCountAbove(t *testing.T) {
	var d analyze.Dist
	for i := 1; i <= 1000; i++ {
		d.Record(int64(i) * int64(time.Millisecond))
	}
	if n := pmCountAbove(&d, int64(900*time.Millisecond)); n < 99 || n > 101 {
		t.Errorf("above 900ms: %d", n)
	}
	if n := pmCountAbove(&d, int64(2*time.Second)); n != 0 {
		t.Errorf("above max: %d", n)
	}
}

func TestPostmortemEmptyResult(t *testing.T) {
	r := &analyze.Result{Percentiles: []float64{50, 95, 99}, Requests: analyze.RequestStats{Summary: analyze.Summary{Quantiles: make([]float64, 3)}}}
	var b bytes.Buffer
	if err := PostmortemHTML(&b, r, PostmortemOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := PostmortemMarkdown(&b, r, PostmortemOptions{WriteAsset: func(string, []byte) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No request matched") {
		t.Error(b.String())
	}
}

func TestTraceLink(t *testing.T) {
	for _, c := range []struct{ tmpl, id, want string }{
		{"https://jaeger.example/trace/{id}", "4bf92f3577b34da6a3ce929d0e0e4736", "https://jaeger.example/trace/4bf92f3577b34da6a3ce929d0e0e4736"},
		{"https://t.example/x?trace={id}&v=1", "a b/c?d", "https://t.example/x?trace=a%20b%2Fc%3Fd&v=1"},
		{"", "abc", ""},
	} {
		if got := TraceLink(c.tmpl, c.id); got != c.want {
			t.Errorf("TraceLink(%q, %q) = %q, want %q", c.tmpl, c.id, got, c.want)
		}
	}
}
