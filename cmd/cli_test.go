package cmd

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run executes the command line in-process and returns stdout, stderr and
// the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	return out.String(), errb.String(), code
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./cmd -update rewrites it):\n%s", name, diff(string(want), got))
	}
}

// diff shows the first lines that differ.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g + "\n")
			shown++
		}
	}
	return b.String()
}

const sample = "../testdata/sample/chat.otlp.jsonl"

func TestBreakdownGolden(t *testing.T) {
	for _, format := range []string{"table", "json", "markdown", "csv"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, "", "breakdown", "--format", format, sample)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "breakdown."+format+".golden", out)
		})
	}
}

func TestBreakdownPercentilesAndFilters(t *testing.T) {
	out, errOut, code := run(t, "", "breakdown", "-f", "json", "--percentiles", "50,90,99.9",
		"--root-operation", "^POST /v1/chat$", "--service", "llm-gateway", "--min-duration", "1s", sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "breakdown.filtered.json.golden", out)
	for _, key := range []string{`"p50"`, `"p90"`, `"p99.9"`} {
		if !strings.Contains(out, key) {
			t.Errorf("output lacks %s", key)
		}
	}
	if strings.Contains(out, `"chat-gateway"`) {
		t.Error("--service llm-gateway still reports chat-gateway operations")
	}
}

func TestBreakdownStdinAndOutputFile(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, _ := run(t, "", "breakdown", "-f", "json", "-q", sample)
	fromStdin, _, code := run(t, string(data), "breakdown", "-f", "json", "-q", "-")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Only the input name differs.
	if strings.Replace(fromStdin, `"stdin"`, `"`+sample+`"`, 1) != fromFile {
		t.Error("stdin and file give different reports")
	}
	path := filepath.Join(t.TempDir(), "out.json")
	out, _, code := run(t, "", "breakdown", "-f", "json", "-q", "-o", path, sample)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	written, _ := os.ReadFile(path)
	if string(written) != fromFile {
		t.Error("-o wrote something else than stdout shows")
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":`), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no source", []string{"breakdown"}, ExitUsage, "requires at least 1 arg"},
		{"unknown flag", []string{"breakdown", "--nope", sample}, ExitUsage, "unknown flag"},
		{"bad format", []string{"breakdown", "-f", "xml", sample}, ExitUsage, `--format: "xml" is not one of`},
		{"bad percentile", []string{"breakdown", "--percentiles", "50,101", sample}, ExitUsage, "--percentiles"},
		{"bad since", []string{"breakdown", "--since", "yesterday", sample}, ExitUsage, "--since"},
		{"bad regexp", []string{"breakdown", "--operation", "(", sample}, ExitUsage, "--operation"},
		{"unknown command", []string{"brekdown"}, ExitUsage, "unknown command"},
		{"missing file", []string{"breakdown", filepath.Join(dir, "nope.json")}, ExitError, "nope.json: no such file"},
		{"truncated file", []string{"breakdown", bad}, ExitError, "bad.json: byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := run(t, "", c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (%s)", code, c.code, errOut)
			}
			if !strings.Contains(errOut, c.msg) {
				t.Errorf("stderr %q lacks %q", errOut, c.msg)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "trace-forensics ") {
		t.Errorf("version: %d %q", code, out)
	}
	out, _, code = run(t, "", "breakdown", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") && !strings.Contains(out, "Example") {
		t.Errorf("help: %d %q", code, out)
	}
}

// The README's commands must keep working: every line in a fenced block
// that starts with "trace-forensics " or "go run ./cmd/trace-forensics "
// and reads only files shipped in the repository is run here.
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(?:\$ )?(?:go run \./cmd/trace-forensics|trace-forensics) ((?:breakdown|stages|coverage|explain|report|snapshot|compare|gate|merge) .*testdata/.*)$`)
	matches := re.FindAllStringSubmatch(string(readme), -1)
	if len(matches) < 5 {
		t.Fatalf("only %d runnable commands over testdata/ found in README.md", len(matches))
	}
	t.Chdir(t.TempDir()) // commands that write files write them here
	for _, m := range matches {
		args := strings.Fields(strings.ReplaceAll(m[1], "testdata/", testdata+"/"))
		if indexOf(args, "|") >= 0 || indexOf(args, ">") >= 0 || indexOf(args, "<") >= 0 {
			continue
		}
		for i, a := range args { // single-quoted arguments, as a shell would pass them
			args[i] = strings.Trim(a, "'")
		}
		_, errOut, code := run(t, "", args...)
		if code != 0 && code != ExitGate {
			t.Errorf("README command %q: exit %d: %s", m[0], code, errOut)
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// The binary's main is wired to Main: build it once and check an exit code.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "trace-forensics")
	if out, err := exec.Command("go", "build", "-o", bin, "./trace-forensics").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	err := exec.Command(bin, "breakdown").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitUsage {
		t.Errorf("exit %v, want %d", err, ExitUsage)
	}
}
