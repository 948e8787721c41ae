// Package gate judges a comparison against latency rules, for CI: absolute
// budgets on the candidate (p99(stage="LLM invocation") < 2.5s), relative
// limits on regressions against the baseline (p95(request) regression <
// 10%), shares of the request's latency and a minimum of requests. A
// relative rule fails only when the regression is over its limit and
// statistically significant. It is the step after compare in the pipeline;
// report renders its verdict.
package gate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/trace-forensics/trace-forensics/compare"
)

// Kind is what a rule measures.
type Kind int

const (
	Absolute    Kind = iota // pNN(target) < duration, on the candidate
	Regression              // pNN(target) regression < N%, candidate against baseline
	Share                   // share_of_request(pNN, target) < fraction, on the candidate
	MinRequests             // min_requests >= N, on both sides
)

// Severities: a failed error rule fails the gate; a failed warning rule is
// reported and does not.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Rule is one parsed rule.
type Rule struct {
	Text       string // as written, spaces trimmed
	Kind       Kind
	Percentile float64 // Absolute, Regression, Share
	Scope      string  // compare.ScopeRequest, ScopeStage or ScopeOperation
	Name       string  // stage or operation name; * matches any text
	Op         string  // <, <=, >, >=
	// Limit is in milliseconds (Absolute), percent (Regression: 10 for
	// 10%), a fraction (Share) or a count (MinRequests).
	Limit    float64
	Severity string
	Line     int // in the rules file; 0 for default rules and flags
}

// Rules is a rules file.
type Rules struct {
	Alpha float64 // 0: not set
	Rules []Rule
	// Default is set when no rules file was given.
	Default bool
	// Path is the rules file's, for annotations that point at a rule.
	Path string
}

// DefaultRuleText are the rules without --rules: fail when the request's
// p95 or p99, or any stage's p95, regresses by more than 10 % and the
// change is significant.
var DefaultRuleText = []string{
	`p95(request) regression < 10%`,
	`p99(request) regression < 10%`,
	`p95(stage="*") regression < 10%`,
}

// DefaultRules returns the rules that apply without --rules.
func DefaultRules() *Rules {
	rs := &Rules{Default: true}
	for _, t := range DefaultRuleText {
		r, err := ParseRule(t)
		if err != nil {
			panic("gate: default rule: " + err.Error())
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs
}

// NeedsBaseline reports whether some rule compares with a baseline.
func (rs *Rules) NeedsBaseline() bool {
	for _, r := range rs.Rules {
		if r.Kind == Regression {
			return true
		}
	}
	return false
}

// Percentiles returns the percentiles the rules use.
func (rs *Rules) Percentiles() []float64 {
	var out []float64
	for _, r := range rs.Rules {
		if r.Kind != MinRequests {
			out = append(out, r.Percentile)
		}
	}
	return out
}

// Grammar is the rule grammar for help texts and errors.
const Grammar = `rule   = pNN "(" target ")" ("<" | "<=") duration          absolute budget on the candidate
       | pNN "(" target ")" "regression" ("<" | "<=") N "%"  relative to the baseline; fails only if significant
       | "share_of_request" "(" pNN "," target ")" ("<" | "<=") fraction | N "%"
       | "min_requests" (">=" | ">") N                         on the baseline and the candidate
target = "request" | "stage" "=" "name" | "operation" "=" "service/operation"   (* in a name matches anything)
pNN    = p50, p95, p99, p99.9, …      duration = 2.5s, 800ms, 1m30s`

// ReadFile reads a rules file: YAML with an optional alpha and a list of
// rules, each a string or {rule: …, severity: error|warning}.
func ReadFile(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rs, err := Parse(path, data)
	if rs != nil {
		rs.Path = path
	}
	return rs, err
}

// Parse parses a rules file's content; errors name the file and line.
func Parse(name string, data []byte) (*Rules, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	errf := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, n.Line, fmt.Sprintf(format, args...))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: no rules", name)
	}
	root := doc.Content[0]
	rs := &Rules{}
	var list *yaml.Node
	switch root.Kind {
	case yaml.SequenceNode:
		list = root
	case yaml.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			switch k.Value {
			case "alpha":
				a, err := strconv.ParseFloat(v.Value, 64)
				if err != nil || !(a > 0 && a < 1) {
					return nil, errf(v, "alpha: %q is not a number between 0 and 1", v.Value)
				}
				rs.Alpha = a
			case "rules":
				if v.Kind != yaml.SequenceNode {
					return nil, errf(v, "rules: want a list of rules")
				}
				list = v
			default:
				return nil, errf(k, "unknown key %q (want alpha, rules)", k.Value)
			}
		}
	default:
		return nil, errf(root, "want a list of rules or a mapping with alpha and rules")
	}
	if list == nil || len(list.Content) == 0 {
		return nil, fmt.Errorf("%s: no rules", name)
	}
	for _, item := range list.Content {
		text, severity := "", SeverityError
		switch item.Kind {
		case yaml.ScalarNode:
			text = item.Value
		case yaml.MappingNode:
			for i := 0; i+1 < len(item.Content); i += 2 {
				k, v := item.Content[i], item.Content[i+1]
				switch k.Value {
				case "rule":
					text = v.Value
				case "severity":
					if v.Value != SeverityError && v.Value != SeverityWarning {
						return nil, errf(v, "severity: %q is neither error nor warning", v.Value)
					}
					severity = v.Value
				default:
					return nil, errf(k, "unknown key %q (want rule, severity)", k.Value)
				}
			}
		default:
			return nil, errf(item, "want a rule")
		}
		r, err := ParseRule(text)
		if err != nil {
			return nil, errf(item, "%v", err)
		}
		r.Severity, r.Line = severity, item.Line
		rs.Rules = append(rs.Rules, r)
	}
	return rs, nil
}

// ParseRule parses one rule.
func ParseRule(text string) (Rule, error) {
	text = strings.TrimSpace(text)
	r := Rule{Text: text, Severity: SeverityError}
	p := &parser{s: text}
	if err := p.rule(&r); err != nil {
		return r, fmt.Errorf("rule %q: %v", text, err)
	}
	return r, nil
}

type parser struct {
	s   string
	pos int
}

func (p *parser) skip() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *parser) errf(format string, args ...any) error {
	at := "at the end"
	if p.pos < len(p.s) {
		at = fmt.Sprintf("at %q", p.s[p.pos:])
	}
	return fmt.Errorf("%s, %s", fmt.Sprintf(format, args...), at)
}

// word reads an identifier: letters, digits, _ and .
func (p *parser) word() string {
	p.skip()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.s[start:p.pos]
}

func (p *parser) lit(s string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.lit(s) {
		return p.errf("want %q", s)
	}
	return nil
}

func (p *parser) rule(r *Rule) error {
	w := p.word()
	switch {
	case w == "min_requests":
		r.Kind = MinRequests
		r.Op = p.op()
		if r.Op != ">=" && r.Op != ">" {
			return p.errf("min_requests takes >= or >")
		}
		n, err := strconv.ParseUint(p.word(), 10, 63)
		if err != nil {
			return p.errf("want a whole number of requests")
		}
		r.Limit = float64(n)
	case w == "share_of_request":
		r.Kind = Share
		if err := p.expect("("); err != nil {
			return err
		}
		pct, err := percentile(p.word())
		if err != nil {
			return p.errf("%v", err)
		}
		r.Percentile = pct
		if err := p.expect(","); err != nil {
			return err
		}
		if err := p.target(r); err != nil {
			return err
		}
		if r.Scope == compare.ScopeRequest {
			return p.errf("the share of the request in itself is always 1: name a stage or an operation")
		}
		if err := p.expect(")"); err != nil {
			return err
		}
		if r.Op = p.op(); r.Op != "<" && r.Op != "<=" {
			return p.errf("a share takes < or <=")
		}
		v := p.rest()
		f, err := fraction(v)
		if err != nil {
			return err
		}
		r.Limit = f
		return nil
	case strings.HasPrefix(w, "p"):
		pct, err := percentile(w)
		if err != nil {
			return fmt.Errorf("%v (rules start with pNN(…), share_of_request(…) or min_requests)", err)
		}
		r.Percentile = pct
		if err := p.expect("("); err != nil {
			return err
		}
		if err := p.target(r); err != nil {
			return err
		}
		if err := p.expect(")"); err != nil {
			return err
		}
		save := p.pos
		if p.word() == "regression" {
			r.Kind = Regression
		} else {
			p.pos = save
			r.Kind = Absolute
		}
		if r.Op = p.op(); r.Op != "<" && r.Op != "<=" {
			return p.errf("want < or <=")
		}
		v := p.rest()
		if r.Kind == Regression {
			if !strings.HasSuffix(v, "%") {
				return fmt.Errorf("a regression limit is a percentage such as 10%%, not %q", v)
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
			if err != nil || f < 0 {
				return fmt.Errorf("a regression limit is a percentage such as 10%%, not %q", v)
			}
			r.Limit = f
			return nil
		}
		d, err := duration(v)
		if err != nil {
			return err
		}
		r.Limit = d
		return nil
	default:
		return fmt.Errorf("rules start with pNN(…), share_of_request(…) or min_requests, not %q", w)
	}
	p.skip()
	if p.pos != len(p.s) {
		return p.errf("unexpected text")
	}
	return nil
}

// rest returns what is left, trimmed.
func (p *parser) rest() string {
	v := strings.TrimSpace(p.s[p.pos:])
	p.pos = len(p.s)
	return v
}

func (p *parser) op() string {
	for _, op := range []string{"<=", ">=", "<", ">"} {
		if p.lit(op) {
			return op
		}
	}
	return ""
}

// target reads request, stage="…" or operation="…".
func (p *parser) target(r *Rule) error {
	w := p.word()
	switch w {
	case "request", "requests":
		r.Scope = compare.ScopeRequest
		return nil
	case "stage":
		r.Scope = compare.ScopeStage
	case "operation":
		r.Scope = compare.ScopeOperation
	default:
		return p.errf("want request, stage=\"…\" or operation=\"…\"")
	}
	if err := p.expect("="); err != nil {
		return err
	}
	p.skip()
	if p.pos >= len(p.s) || p.s[p.pos] != '"' {
		return p.errf("want a quoted name")
	}
	end := p.pos + 1
	for end < len(p.s) && p.s[end] != '"' {
		if p.s[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(p.s) {
		return p.errf("unterminated name")
	}
	name, err := strconv.Unquote(p.s[p.pos : end+1])
	if err != nil {
		return p.errf("bad name: %v", err)
	}
	if name == "" {
		return p.errf("empty name")
	}
	r.Name = name
	p.pos = end + 1
	return nil
}

func percentile(w string) (float64, error) {
	if !strings.HasPrefix(w, "p") {
		return 0, fmt.Errorf("%q is not a percentile such as p95", w)
	}
	f, err := strconv.ParseFloat(w[1:], 64)
	if err != nil || !(f > 0 && f <= 100) {
		return 0, fmt.Errorf("%q is not a percentile such as p95", w)
	}
	return f, nil
}

// duration reads 2.5s, 800ms, 1m30s (Go durations) into milliseconds.
func duration(v string) (float64, error) {
	d, err := time.ParseDuration(strings.ReplaceAll(v, " ", ""))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 2.5s or 800ms", v)
	}
	return float64(d) / float64(time.Millisecond), nil
}

// fraction reads 0.3 or 30%.
func fraction(v string) (float64, error) {
	s, pct := strings.CutSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if pct {
		f /= 100
	}
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a fraction such as 0.3 or 30%%", v)
	}
	return f, nil
}

// Matches reports whether a stage or operation name matches the rule's
// name, in which * stands for any text.
func (r *Rule) Matches(name string) bool {
	if !strings.Contains(r.Name, "*") {
		return r.Name == name
	}
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(r.Name), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, name)
	return ok
}

// Wildcard reports whether the rule's name is a pattern.
func (r *Rule) Wildcard() bool { return strings.Contains(r.Name, "*") }

// Format writes rules as a rules file.
func (rs *Rules) Format() []byte {
	var b bytes.Buffer
	if rs.Alpha != 0 {
		fmt.Fprintf(&b, "alpha: %g\n", rs.Alpha)
	}
	b.WriteString("rules:\n")
	for _, r := range rs.Rules {
		if r.Severity == SeverityWarning {
			fmt.Fprintf(&b, "  - rule: %s\n    severity: warning\n", yamlString(r.Text))
		} else {
			fmt.Fprintf(&b, "  - %s\n", yamlString(r.Text))
		}
	}
	return b.Bytes()
}

// yamlString quotes a rule for YAML when it has to: rules hold quotes and
// colons.
func yamlString(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return strconv.Quote(s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

var errNoBaseline = errors.New("relative rules (regression) need a baseline: give --baseline")
