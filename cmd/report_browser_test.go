package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/internal/browser"
)

// TestReportInChromium opens the HTML report in headless Chromium from
// disk: it must render without console errors, make no network request
// but for itself, draw every chart, sort its tables, and print. The page,
// screenshots (screen and print) and the PDF go to build/ as CI artifacts.
//
// Without Chromium the test is skipped, except under CI=true, where it fails.
func TestReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium, err := browser.Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the browser test (.ci/run installs it: apt-get install chromium)", err)
		}
		t.Skipf("%v; to run this test: apt-get install chromium", err)
	}
	artifacts, err := filepath.Abs(filepath.Join("..", "build"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	src := canaryTraces(t, 600)
	page := filepath.Join(artifacts, "report.html")
	_, errOut, code := run(t, "", "report", "-q", "-o", page, "--slo", "1.5s", "--group-by", "prompt.version",
		"--title", "Chat backend latency, 20 Nov", "--trace-url", "https://jaeger.example/trace/{id}",
		"--baseline", sample, "--gate", "default", src)
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	html, _ := os.ReadFile(page)
	assertNoCanary(t, "report.html", string(html))
	for _, id := range []string{"summary", "comparison", "overview", "stages", "tail", "groups", "coverage", "slowest", "operations", "quality"} {
		if !strings.Contains(string(html), `id="`+id+`"`) {
			t.Errorf("the page has no %s section", id)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := browser.Start(chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewPage(ctx)
	if err != nil {
		t.Fatalf("%v\nchromium: %s", err, b.Stderr())
	}
	url := "file://" + filepath.ToSlash(page)
	if err := p.Navigate(ctx, url); err != nil {
		t.Fatalf("%v\nchromium: %s", err, b.Stderr())
	}

	// Every chart is drawn, with marks in it, at a size one can read.
	var charts []struct {
		Kind   string  `json:"kind"`
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
		Marks  int     `json:"marks"`
		Texts  int     `json:"texts"`
	}
	err = p.Eval(ctx, `Array.from(document.querySelectorAll("figure.chart svg")).map(function (s) {
		var r = s.getBoundingClientRect();
		return {kind: s.getAttribute("data-chart"), width: r.width, height: r.height,
			marks: s.querySelectorAll("[data-segment],[data-bin],[data-path],[data-span]").length,
			texts: Array.from(s.querySelectorAll("text")).filter(function (t) { return t.getBBox().width > 0; }).length};
	})`, &charts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"stacked-bars": 4 * 3, "histograms": 50, "waterfall": 15}
	seen := map[string]bool{}
	for _, c := range charts {
		seen[c.Kind] = true
		if c.Width < 600 || c.Height < 120 {
			t.Errorf("chart %s is %.0f×%.0f px", c.Kind, c.Width, c.Height)
		}
		if c.Marks < want[c.Kind] || c.Texts < 10 {
			t.Errorf("chart %s has %d marks and %d labels", c.Kind, c.Marks, c.Texts)
		}
	}
	for kind := range want {
		if !seen[kind] {
			t.Errorf("no %s chart on the page (charts: %+v)", kind, charts)
		}
	}

	// A click on a numeric header sorts the rows, largest first.
	var sorted struct {
		Before, After []float64
	}
	err = p.Eval(ctx, `(function () {
		var t = document.querySelector("#operations table.sortable");
		var col = Array.from(t.tHead.rows[0].cells).findIndex(function (th) { return th.textContent === "count"; });
		var vals = function () { return Array.from(t.tBodies[0].rows).map(function (r) { return parseFloat(r.cells[col].getAttribute("data-sort")); }); };
		var before = vals();
		t.tHead.rows[0].cells[col].click();
		return {Before: before, After: vals()};
	})()`, &sorted)
	if err != nil {
		t.Fatal(err)
	}
	if len(sorted.After) < 5 {
		t.Fatalf("operations table has %d rows", len(sorted.After))
	}
	for i := 1; i < len(sorted.After); i++ {
		if sorted.After[i] > sorted.After[i-1] {
			t.Errorf("after a click on count, row %d (%v) > row %d (%v)", i, sorted.After[i], i-1, sorted.After[i-1])
			break
		}
	}
	// Restore the order for the screenshot.
	_ = p.Navigate(ctx, url)

	shot, err := p.Screenshot(ctx, 1200, false)
	if err != nil {
		t.Fatal(err)
	}
	printShot, err := p.Screenshot(ctx, 800, true)
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := p.PrintPDF(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"report-screenshot.png": shot, "report-print.png": printShot, "report.pdf": pdf} {
		if len(data) < 10_000 {
			t.Errorf("%s is only %d bytes", name, len(data))
		}
		if err := os.WriteFile(filepath.Join(artifacts, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Error("printing did not give a PDF")
	}

	console, requests, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range console {
		t.Errorf("console: %s", c)
	}
	for _, r := range requests {
		if r != url {
			t.Errorf("the page made a network request: %s", r)
		}
	}
	if len(requests) == 0 {
		t.Error("no request recorded at all: the network log is not working")
	}
	t.Logf("screenshots and PDF in %s", artifacts)
}
