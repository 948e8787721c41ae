package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's report commands must keep working: each line in it that
// runs `trace-forensics report` over testdata/ is run here, its -o and
// --assets pointed into a temporary directory. The shipped sample has
// emails and prompts in its attributes: none may show in what is written.
func TestREADMEReportCommands(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(?:\$ )?(?:go run \./cmd/trace-forensics|trace-forensics) (report .*testdata/.*)$`)
	matches := re.FindAllStringSubmatch(string(readme), -1)
	if len(matches) == 0 {
		t.Skip("README.md has no report command over testdata/ yet (section \"Postmortem reports\")")
	}
	for _, m := range matches {
		dir := t.TempDir()
		args := shellFields(strings.ReplaceAll(m[1], "testdata/", "../testdata/"))
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-o" || args[i] == "--output" || args[i] == "--assets" {
				args[i+1] = filepath.Join(dir, filepath.Base(args[i+1]))
			}
		}
		_, errOut, code := run(t, "", args...)
		if code != 0 {
			t.Errorf("README command %q: exit %d: %s", m[0], code, errOut)
			continue
		}
		assertNoCanaryFiles(t, dir)
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(p)
				if strings.Contains(string(data), "@example.com") {
					t.Errorf("README command %q: %s shows an email from the sample's attributes", m[0], p)
				}
			}
			return nil
		})
	}
}

// shellFields splits a command line on spaces, keeping single-quoted parts whole.
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			any = true
		case r == ' ' && !quoted:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}
