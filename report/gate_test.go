package report

import "testing"

// Workflow commands end at a newline and split properties at , and :, so
// those are escaped (GitHub's toolkit rules).
func TestGitHubEscaping(t *testing.T) {
	if got := ghData("50% slower\r\nnext: a,b"); got != "50%25 slower%0D%0Anext: a,b" {
		t.Errorf("data %q", got)
	}
	if got := ghProperty("gate: p95 < 10%, stage"); got != "gate%3A p95 < 10%25%2C stage" {
		t.Errorf("property %q", got)
	}
}

func TestDeltaCell(t *testing.T) {
	for _, c := range []struct {
		p    float64
		want string
	}{{19.28, "+19.3%"}, {-4.44, "-4.4%"}, {0.01, "0.0%"}, {-0.01, "0.0%"}} {
		if got := signedPct(c.p); got != c.want {
			t.Errorf("signedPct(%v) = %s, want %s", c.p, got, c.want)
		}
	}
}
