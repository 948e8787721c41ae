package gate

import (
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/compare"
)

func TestParseRule(t *testing.T) {
	cases := []struct {
		text string
		want Rule
	}{
		{`p99(stage="LLM invocation") < 2.5s`, Rule{Kind: Absolute, Percentile: 99, Scope: compare.ScopeStage, Name: "LLM invocation", Op: "<", Limit: 2500}},
		{`p95(request) regression < 10%`, Rule{Kind: Regression, Percentile: 95, Scope: compare.ScopeRequest, Op: "<", Limit: 10}},
		{`share_of_request(p99, stage="retrieval") < 0.3`, Rule{Kind: Share, Percentile: 99, Scope: compare.ScopeStage, Name: "retrieval", Op: "<", Limit: 0.3}},
		{`min_requests >= 200`, Rule{Kind: MinRequests, Op: ">=", Limit: 200}},
		{`  p99.9 ( operation = "llm-gateway/chat gpt-4o" ) <= 1m30s `, Rule{Kind: Absolute, Percentile: 99.9, Scope: compare.ScopeOperation, Name: "llm-gateway/chat gpt-4o", Op: "<=", Limit: 90000}},
		{`p50(stage="*") regression <= 2.5 %`, Rule{Kind: Regression, Percentile: 50, Scope: compare.ScopeStage, Name: "*", Op: "<=", Limit: 2.5}},
		{`share_of_request(p95, operation="retrieval/*") < 30%`, Rule{Kind: Share, Percentile: 95, Scope: compare.ScopeOperation, Name: "retrieval/*", Op: "<", Limit: 0.3}},
		{`p95(stage="say \"hi\"") < 800ms`, Rule{Kind: Absolute, Percentile: 95, Scope: compare.ScopeStage, Name: `say "hi"`, Op: "<", Limit: 800}},
		{`p95(requests) < 850µs`, Rule{Kind: Absolute, Percentile: 95, Scope: compare.ScopeRequest, Op: "<", Limit: 0.85}},
	}
	for _, c := range cases {
		got, err := ParseRule(c.text)
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		c.want.Text, c.want.Severity = strings.TrimSpace(c.text), SeverityError
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.text, got, c.want)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	for text, want := range map[string]string{
		``:                                        "rules start with",
		`p95 < 2s`:                                `want "("`,
		`p101(request) < 2s`:                      `"p101" is not a percentile`,
		`q95(request) < 2s`:                       "rules start with",
		`p95(stage=LLM) < 2s`:                     "want a quoted name",
		`p95(stage="LLM) < 2s`:                    "unterminated name",
		`p95(stage="") < 2s`:                      "empty name",
		`p95(service="x") < 2s`:                   `want request, stage="…" or operation="…"`,
		`p95(request) > 2s`:                       "want < or <=",
		`p95(request) < 2 seconds`:                `"2 seconds" is not a duration`,
		`p95(request) < 10%`:                      `"10%" is not a duration`,
		`p95(request) regression < 0.1`:           "a regression limit is a percentage",
		`share_of_request(p95, request) < 0.5`:    "always 1",
		`share_of_request(p95, stage="x") < half`: `"half" is not a fraction`,
		`min_requests < 200`:                      "min_requests takes >= or >",
		`min_requests >= 2e2`:                     "want a whole number",
		`min_requests >= 200 please`:              "unexpected text",
	} {
		_, err := ParseRule(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}

func TestParseFile(t *testing.T) {
	rs, err := Parse("gate.yaml", []byte(`# budgets
alpha: 0.01
rules:
  - p99(stage="LLM invocation") < 2.5s
  - rule: p95(request) regression < 10%
    severity: warning
  - min_requests >= 200
`))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Alpha != 0.01 || len(rs.Rules) != 3 || rs.Rules[1].Severity != SeverityWarning || rs.Rules[1].Line != 5 || rs.Rules[2].Line != 7 || rs.Default {
		t.Errorf("%+v", rs)
	}
	again, err := Parse("again.yaml", rs.Format())
	if err != nil {
		t.Fatalf("%v\n%s", err, rs.Format())
	}
	for i := range rs.Rules {
		a, b := rs.Rules[i], again.Rules[i]
		a.Line, b.Line = 0, 0
		if a != b {
			t.Errorf("rule %d: %+v after formatting, was %+v", i, b, a)
		}
	}
	list, err := Parse("list.yaml", []byte("- p95(request) < 2s\n- min_requests > 10\n"))
	if err != nil || len(list.Rules) != 2 {
		t.Errorf("a plain list: %v %+v", err, list)
	}
	for doc, want := range map[string]string{
		"":                                     "gate.yaml: no rules",
		"rules: []":                            "gate.yaml: no rules",
		"alpha: 2\nrules: [min_requests > 1]":  "gate.yaml:1: alpha",
		"rules:\n  - p95(request) < 2 seconds": `gate.yaml:2: rule "p95(request) < 2 seconds"`,
		"rules:\n  - {rule: min_requests > 1, severity: fatal}": "gate.yaml:2: severity",
		"rule:\n  - min_requests > 1":                           `gate.yaml:1: unknown key "rule"`,
		"rules: {a: b}":                                         "want a list of rules",
		"rules: [":                                              "gate.yaml: yaml:",
	} {
		_, err := Parse("gate.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
}

func TestMatches(t *testing.T) {
	r := Rule{Name: "retrieval*"}
	for name, want := range map[string]bool{"retrieval and reranking": true, "retrieval": true, "a retrieval": false} {
		if r.Matches(name) != want {
			t.Errorf("%q matches %q: %v", r.Name, name, !want)
		}
	}
	r = Rule{Name: "a.b(c)"}
	if !r.Matches("a.b(c)") || r.Matches("axb(c)") {
		t.Error("names are not regular expressions")
	}
}

func TestDefaultRules(t *testing.T) {
	rs := DefaultRules()
	if !rs.Default || len(rs.Rules) != 3 || !rs.NeedsBaseline() {
		t.Errorf("%+v", rs)
	}
}
