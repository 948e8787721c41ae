package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// Canary values planted in the traces: an email in the user.email
// attribute, a prompt in gen_ai.prompt (with a card number and a phone
// number in it) and an email inside a span name. None may appear in any
// output of any command.
const (
	canaryAttrEmail = "attr.canary@example.org"
	canaryPrompt    = "PROMPT-CANARY my card is 4242 4242 4242 4242, call +44 20 7946 0958"
	canarySpanEmail = "span.canary@example.net"
)

// canaryMarkers are the parts of the canaries that must not show; the
// prompt's are checked piece by piece, so a partly redacted prompt fails too.
var canaryMarkers = []string{"attr.canary", "PROMPT-CANARY", "my card is", "4242 4242", "7946 0958", "span.canary", "example.org", "example.net"}

// canaryTraces writes generated chat traces with the canaries planted and
// returns the file's path.
func canaryTraces(t testing.TB, requests int) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: requests, Seed: 11, LLMFactor: map[string]float64{"B": 1.3}, ErrorRate: 0.03}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	data = regexp.MustCompile(`("key":"user\.email","value":\{"stringValue":)"[^"]*"`).ReplaceAll(data, []byte(`$1"`+canaryAttrEmail+`"`))
	data = regexp.MustCompile(`("key":"gen_ai\.prompt","value":\{"stringValue":)"[^"]*"`).ReplaceAll(data, []byte(`$1"`+canaryPrompt+`"`))
	data = bytes.ReplaceAll(data, []byte(`"name":"rerank"`), []byte(`"name":"rerank for `+canarySpanEmail+`"`))
	for _, c := range []string{canaryAttrEmail, "PROMPT-CANARY", canarySpanEmail} {
		if !bytes.Contains(data, []byte(c)) {
			t.Fatalf("canary %q was not planted", c)
		}
	}
	path := filepath.Join(t.TempDir(), "canary.otlp.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func assertNoCanary(t *testing.T, where, out string) {
	t.Helper()
	for _, m := range canaryMarkers {
		if i := strings.Index(out, m); i >= 0 {
			t.Errorf("%s shows planted personal data %q: …%s…", where, m, out[max(0, i-60):min(len(out), i+60)])
		}
	}
}

// assertNoCanaryFiles checks every file under dir.
func assertNoCanaryFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".jsonl") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assertNoCanary(t, p, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReportCanaries runs the report in both formats, with and without
// grouping by the key that holds an email, and checks every file written
// and both streams.
func TestReportCanaries(t *testing.T) {
	src := canaryTraces(t, 300)
	cases := [][]string{
		{"--format", "markdown"},
		{"--format", "html"},
		{"--format", "markdown", "--group-by", "user.email"},
		{"--format", "html", "--group-by", "user.email"},
		{"--format", "markdown", "--group-by", "prompt.version", "--redact-key", "prompt.version"},
		{"--format", "markdown", "--stages", writeCanaryRules(t)},
	}
	for _, c := range cases {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			dir := t.TempDir()
			ext := ".md"
			if c[1] == "html" {
				ext = ".html"
			}
			out := filepath.Join(dir, "report"+ext)
			args := append(append([]string{"report", "-o", out}, c...), src)
			stdout, stderr, code := run(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			assertNoCanary(t, "stdout", stdout)
			assertNoCanary(t, "stderr", stderr)
			assertNoCanaryFiles(t, dir)
			data, _ := os.ReadFile(out)
			page := string(data)
			if strings.Contains(strings.Join(c, " "), "user.email") && !strings.Contains(page, "[email]") {
				t.Error("the user.email group is not shown as [email]")
			}
			if strings.Contains(strings.Join(c, " "), "--redact-key") && !strings.Contains(page, "prompt.version #1") {
				t.Error("the redacted key's groups are not pseudonyms")
			}
			if !strings.Contains(page, "rerank for [email]") {
				t.Error("the span name's email was not replaced by [email]")
			}
		})
	}
}

// writeCanaryRules writes a stage-rules file that matches on the prompt
// attribute, so the reader keeps its values: they must still not show.
func writeCanaryRules(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "stages.yaml")
	rules := "rules:\n  - stage: prompted LLM call\n    attributes: {gen_ai.prompt: \"*\"}\n"
	if err := os.WriteFile(p, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCanariesEveryCommand runs every command that prints what it read,
// in every format, over the planted traces.
func TestCanariesEveryCommand(t *testing.T) {
	src := canaryTraces(t, 200)
	out, errOut, code := run(t, "", "breakdown", "-q", "-f", "json", src)
	if code != 0 {
		t.Fatalf("breakdown: exit %d: %s", code, errOut)
	}
	trace := regexp.MustCompile(`"exemplars": \[\s*"([0-9a-f]{32})"`).FindStringSubmatch(out)
	if trace == nil {
		t.Fatal("no exemplar trace in the breakdown")
	}
	var cases [][]string
	for _, f := range []string{"table", "json", "csv", "markdown"} {
		cases = append(cases, []string{"breakdown", "-f", f}, []string{"breakdown", "-f", f, "--by", "operation"},
			[]string{"breakdown", "-f", f, "--group-by", "user.email"})
	}
	for _, f := range []string{"table", "json", "markdown"} {
		cases = append(cases, []string{"explain", "-f", f, trace[1]}, []string{"coverage", "-f", f})
	}
	cases = append(cases, []string{"stages"}, []string{"stages", "-f", "json"}, []string{"stages", "--stages", writeCanaryRules(t)})
	for _, c := range cases {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, "", append(c, src)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			assertNoCanary(t, "stdout", stdout)
			assertNoCanary(t, "stderr", stderr)
		})
	}
}

// Values of prompt.version rewritten to stand out, and one inside a span
// name, for --redact-key.
const (
	secretA = "variant-alpha-secret"
	secretB = "variant-beta-secret"
)

func redactKeyTraces(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(canaryTraces(t, 200))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(`"key":"prompt.version","value":{"stringValue":"A"}`), []byte(`"key":"prompt.version","value":{"stringValue":"`+secretA+`"}`))
	data = bytes.ReplaceAll(data, []byte(`"key":"prompt.version","value":{"stringValue":"B"}`), []byte(`"key":"prompt.version","value":{"stringValue":"`+secretB+`"}`))
	data = bytes.ReplaceAll(data, []byte(`"name":"orchestrate"`), []byte(`"name":"orchestrate `+secretA+`"`))
	for _, s := range []string{secretA, secretB, "orchestrate " + secretA} {
		if !bytes.Contains(data, []byte(s)) {
			t.Fatalf("%q was not planted", s)
		}
	}
	path := filepath.Join(t.TempDir(), "redact-key.otlp.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRedactKeyEveryCommand runs every command that prints group values or
// names with --redact-key: the key's values show as pseudonyms, in group
// rows and inside names alike, and never as themselves.
func TestRedactKeyEveryCommand(t *testing.T) {
	src := redactKeyTraces(t)
	snap := filepath.Join(t.TempDir(), "redacted.snapshot.json")
	var cases [][]string
	for _, f := range []string{"table", "json", "csv", "markdown"} {
		cases = append(cases, []string{"breakdown", "-f", f, "--group-by", "prompt.version", "--redact-key", "prompt.version", src})
	}
	cases = append(cases,
		[]string{"breakdown", "-f", "json", "--by", "operation", "--redact-key", "prompt.version", src},
		[]string{"coverage", "-f", "json", "--redact-key", "prompt.version", src},
		[]string{"stages", "--redact-key", "prompt.version", src},
		[]string{"snapshot", "--group-by", "prompt.version", "--redact-key", "prompt.version", "-o", snap, src},
		[]string{"compare", "--redact-key", "prompt.version", "--split", "prompt.version=" + secretA + "," + secretB, src},
		[]string{"compare", "-f", "json", "--redact-key", "prompt.version", src, src},
		[]string{"gate", "--redact-key", "prompt.version", "--init", src},
	)
	// Without the flag the values do show, so the checks below can fail.
	if out, _, _ := run(t, "", "breakdown", "-f", "json", "--by", "operation", "--group-by", "prompt.version", src); !strings.Contains(out, secretA) || !strings.Contains(out, "orchestrate "+secretA) {
		t.Fatal("without --redact-key the planted values do not show: the test checks nothing")
	}
	for _, c := range cases {
		t.Run(strings.Join(c[:len(c)-1], " "), func(t *testing.T) {
			stdout, stderr, code := run(t, "", c...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			out := stdout + stderr
			if c[0] == "snapshot" {
				data, err := os.ReadFile(snap)
				if err != nil {
					t.Fatal(err)
				}
				out += string(data)
			}
			for _, s := range []string{secretA, secretB, "variant-"} {
				if i := strings.Index(out, s); i >= 0 {
					t.Errorf("shows %q: …%s…", s, out[max(0, i-60):min(len(out), i+60)])
				}
			}
			grouped := slices.Contains(c, "--group-by") || slices.Contains(c, "--split")
			if grouped && (!strings.Contains(out, "prompt.version #1") || !strings.Contains(out, "prompt.version #2")) {
				t.Errorf("no pseudonyms for the groups:\n%s", out)
			}
			if c[0] == "breakdown" && c[2] == "json" && slices.Contains(c, "operation") && !strings.Contains(out, "orchestrate [prompt.version]") {
				t.Errorf("the span name holding a value was not cut:\n%s", out)
			}
		})
	}
}
