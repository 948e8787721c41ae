package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportGolden(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "postmortem.md")
	_, errOut, code := run(t, "", "report", "-q", "-o", out, "--slo", "1.5s", "--group-by", "prompt.version",
		"--title", "Chat latency", "--trace-url", "https://jaeger.example/trace/{id}", sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.markdown.golden", string(md))
	for _, name := range []string{"latency-distribution.svg", "stage-bands.svg", "slowest-trace.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "postmortem-assets", name)); err != nil {
			t.Errorf("asset: %v", err)
		}
		if !strings.Contains(string(md), "](postmortem-assets/"+name+")") {
			t.Errorf("%s is not linked", name)
		}
	}
}

func TestReportFormatsAndAssets(t *testing.T) {
	dir := t.TempDir()
	// The format follows -o's extension.
	page := filepath.Join(dir, "r.html")
	if _, errOut, code := run(t, "", "report", "-q", "-o", page, sample); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, _ := os.ReadFile(page)
	if !strings.HasPrefix(string(data), "<!DOCTYPE html>") {
		t.Error("-o r.html did not write HTML")
	}
	if _, err := os.Stat(filepath.Join(dir, "r-assets")); err == nil {
		t.Error("HTML wrote chart files")
	}
	// --assets elsewhere: linked relative to the report.
	out := filepath.Join(dir, "docs", "pm.md")
	os.MkdirAll(filepath.Dir(out), 0o755)
	assets := filepath.Join(dir, "img", "charts")
	if _, errOut, code := run(t, "", "report", "-q", "-o", out, "--assets", assets, sample); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	md, _ := os.ReadFile(out)
	if !strings.Contains(string(md), "](../img/charts/stage-bands.svg)") {
		t.Errorf("assets not linked relative to the report:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(assets, "stage-bands.svg")); err != nil {
		t.Error(err)
	}
	// To stdout without --assets the charts are left out.
	stdout, errOut, code := run(t, "", "report", "-q", sample)
	if code != 0 || !strings.HasPrefix(stdout, "# Latency report") || strings.Contains(stdout, "![") {
		t.Errorf("stdout report: exit %d %s\n%.300s", code, errOut, stdout)
	}
}

func TestReportUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"report", "-f", "pdf", sample}, `--format: "pdf" is not one of markdown, html`},
		{[]string{"report", "--trace-url", "https://jaeger.example/trace/", sample}, "has no {id}"},
		{[]string{"report", "--trace-url", "javascript:alert(1)//{id}", sample}, "not an http or https URL"},
		{[]string{"report", "-f", "html", "--assets", "x", sample}, "--assets: only --format markdown"},
		{[]string{"report", "--slo", "-1s", sample}, "--slo: must not be negative"},
		{[]string{"report", "--exemplars", "-1", sample}, "--exemplars"},
		{[]string{"report"}, "requires at least 1 arg"},
	}
	for _, c := range cases {
		_, errOut, code := run(t, "", c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errOut, ExitUsage, c.msg)
		}
	}
}
