package analyze

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/trace-forensics/trace-forensics/model"

	"go.yaml.in/yaml/v3"
)

// A stage is a named step of a request (ANALYSIS.md). Spans are mapped to
// stages by ordered rules on service, span name, kind and kept attributes;
// the first rule that matches decides. Spans that no rule matches form a
// stage named service/operation, unless the nearest matched span above them
// has a rule that passes its stage down (inherit).

//go:embed stages.yaml
var defaultStagesYAML []byte

// DefaultStagesYAML is the source of the built-in rules, a starting point
// for a rules file of one's own.
func DefaultStagesYAML() []byte { return slices.Clone(defaultStagesYAML) }

// StageRule maps the spans it matches to Stage. Every condition it sets
// must hold.
type StageRule struct {
	Stage   string
	Service *regexp.Regexp // on the service name, unanchored
	Name    *regexp.Regexp // on the span name, unanchored
	Kinds   []model.Kind   // any of
	Root    bool           // only the request's root span
	Attrs   []AttrMatch    // all of
	Inherit bool           // unmatched spans below a matched one join its stage
	Origin  string         // where the rule was written: "built-in:23", "rules.yaml:4"
}

// AttrMatch holds when the span (or its resource) has attribute Key with
// one of Values, or with any value when Values is empty.
type AttrMatch struct {
	Key    string
	Values []string
}

// StageRules is an ordered rule list.
type StageRules struct {
	Rules []StageRule
}

var defaultRules = sync.OnceValue(func() *StageRules {
	r, _, err := ParseStageRules("built-in", defaultStagesYAML)
	if err != nil {
		panic("analyze: built-in stage rules: " + err.Error())
	}
	return r
})

// DefaultStageRules returns the built-in rules for an LLM chat request path.
func DefaultStageRules() *StageRules { return defaultRules() }

// LoadStageRules parses a rules file and combines it with the built-in
// rules as the file's mode says: "extend" (the default) puts its rules
// first, "replace" uses them alone.
func LoadStageRules(name string, data []byte) (*StageRules, error) {
	r, replace, err := ParseStageRules(name, data)
	if err != nil {
		return nil, err
	}
	if !replace {
		r.Rules = append(r.Rules, DefaultStageRules().Rules...)
	}
	return r, nil
}

// ParseStageRules reads rules in the form of stages.yaml and reports
// whether the file asks to replace the built-in rules. Unknown keys are
// errors, so a misspelt condition never silently matches everything.
func ParseStageRules(name string, data []byte) (*StageRules, bool, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, false, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, false, fmt.Errorf("%s: empty rules file", name)
	}
	top := doc.Content[0]
	errf := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, n.Line, fmt.Sprintf(format, args...))
	}
	if top.Kind != yaml.MappingNode {
		return nil, false, errf(top, "expected a mapping with mode and rules")
	}
	out := &StageRules{}
	replace := false
	seenRules := false
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "mode":
			switch v.Value {
			case "extend":
			case "replace":
				replace = true
			default:
				return nil, false, errf(v, "mode: %q is neither extend nor replace", v.Value)
			}
		case "rules":
			seenRules = true
			if v.Kind != yaml.SequenceNode {
				return nil, false, errf(v, "rules: expected a list")
			}
			for _, rn := range v.Content {
				r, err := parseRule(rn, name, errf)
				if err != nil {
					return nil, false, err
				}
				out.Rules = append(out.Rules, r)
			}
		default:
			return nil, false, errf(k, "unknown key %q (want mode, rules)", k.Value)
		}
	}
	if !seenRules || len(out.Rules) == 0 {
		return nil, false, errf(top, "no rules")
	}
	return out, replace, nil
}

func parseRule(n *yaml.Node, file string, errf func(*yaml.Node, string, ...any) error) (StageRule, error) {
	r := StageRule{Origin: fmt.Sprintf("%s:%d", file, n.Line)}
	if n.Kind != yaml.MappingNode {
		return r, errf(n, "a rule must be a mapping")
	}
	conditions := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "stage":
			r.Stage = strings.TrimSpace(v.Value)
		case "service":
			r.Service, err = compileRule(v, errf)
			conditions++
		case "name":
			r.Name, err = compileRule(v, errf)
			conditions++
		case "kind":
			var kinds []string
			if kinds, err = scalarList(v, errf); err == nil {
				for _, s := range kinds {
					kd := model.ParseKind(s)
					if kd == model.KindUnspecified && !strings.EqualFold(s, "unspecified") {
						return r, errf(v, "kind: %q is not a span kind (internal, server, client, producer, consumer)", s)
					}
					r.Kinds = append(r.Kinds, kd)
				}
			}
			conditions++
		case "root":
			err = v.Decode(&r.Root)
			if r.Root {
				conditions++
			}
		case "inherit":
			err = v.Decode(&r.Inherit)
		case "attributes":
			if v.Kind != yaml.MappingNode {
				return r, errf(v, "attributes: expected a mapping of key: value")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				ak, av := v.Content[j], v.Content[j+1]
				vals, err := scalarList(av, errf)
				if err != nil {
					return r, err
				}
				m := AttrMatch{Key: ak.Value}
				if !(len(vals) == 1 && vals[0] == "*") {
					m.Values = vals
				}
				r.Attrs = append(r.Attrs, m)
				conditions++
			}
		default:
			return r, errf(k, "unknown rule key %q (want stage, service, name, kind, root, attributes, inherit)", k.Value)
		}
		if err != nil {
			if _, ok := err.(*yaml.TypeError); ok {
				return r, errf(v, "%s: %v", k.Value, err)
			}
			return r, err
		}
	}
	if r.Stage == "" {
		return r, errf(n, "rule without a stage name")
	}
	if conditions == 0 {
		return r, errf(n, "rule for %q has no condition: it would catch every span", r.Stage)
	}
	return r, nil
}

func compileRule(v *yaml.Node, errf func(*yaml.Node, string, ...any) error) (*regexp.Regexp, error) {
	if v.Kind != yaml.ScalarNode {
		return nil, errf(v, "expected a regular expression")
	}
	re, err := regexp.Compile(v.Value)
	if err != nil {
		return nil, errf(v, "%v", err)
	}
	return re, nil
}

func scalarList(v *yaml.Node, errf func(*yaml.Node, string, ...any) error) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, errf(e, "expected a value")
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, errf(v, "expected a value or a list of values")
}

// Keys returns the attribute keys the rules read, sorted: the values a
// reader must keep (sources.Options.Keep) for the rules to work.
func (rs *StageRules) Keys() []string {
	var out []string
	for _, r := range rs.Rules {
		for _, a := range r.Attrs {
			out = append(out, a.Key)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Stages returns the stage names the rules define, in order of first use.
func (rs *StageRules) Stages() []string {
	var out []string
	for _, r := range rs.Rules {
		if !slices.Contains(out, r.Stage) {
			out = append(out, r.Stage)
		}
	}
	return out
}

// Conditions describes what a rule matches, for people.
func (r *StageRule) Conditions() string {
	var parts []string
	if r.Root {
		parts = append(parts, "the request's root span")
	}
	if r.Service != nil {
		parts = append(parts, "service ~ /"+r.Service.String()+"/")
	}
	if r.Name != nil {
		parts = append(parts, "name ~ /"+r.Name.String()+"/")
	}
	if len(r.Kinds) > 0 {
		var ks []string
		for _, k := range r.Kinds {
			ks = append(ks, k.String())
		}
		parts = append(parts, "kind "+strings.Join(ks, "|"))
	}
	for _, a := range r.Attrs {
		if len(a.Values) == 0 {
			parts = append(parts, a.Key+" present")
		} else {
			parts = append(parts, a.Key+" = "+strings.Join(a.Values, "|"))
		}
	}
	s := strings.Join(parts, ", ")
	if r.Inherit {
		s += " (and unmatched spans below)"
	}
	return s
}

func (r *StageRule) matches(op *model.Op, sh *model.Shape, root bool) bool {
	if r.Root && !root {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, sh.Kind) {
		return false
	}
	if r.Service != nil && !r.Service.MatchString(op.Service) {
		return false
	}
	if r.Name != nil && !r.Name.MatchString(op.Name) {
		return false
	}
	for _, a := range r.Attrs {
		v, ok := sh.Attr(a.Key)
		if !ok || (len(a.Values) > 0 && !slices.Contains(a.Values, v)) {
			return false
		}
	}
	return true
}

// stageMap is the rules applied to a dataset's shapes. Stage IDs are the
// named stages in rule order, then one fallback stage per operation
// (named + op index).
type stageMap struct {
	rules     *StageRules
	names     []string // named stages
	ops       []model.Op
	ruleStage []int32
	shapeRule [2][]int32 // [root][shape]: first matching rule, or -1
	inherit   bool       // some rule passes its stage down
}

func newStageMap(rules *StageRules, shapes []model.Shape, ops []model.Op) *stageMap {
	if rules == nil {
		rules = DefaultStageRules()
	}
	m := &stageMap{rules: rules, names: rules.Stages(), ops: ops, ruleStage: make([]int32, len(rules.Rules))}
	for i := range rules.Rules {
		m.ruleStage[i] = int32(slices.Index(m.names, rules.Rules[i].Stage))
		m.inherit = m.inherit || rules.Rules[i].Inherit
	}
	m.shapeRule[0], m.shapeRule[1] = make([]int32, len(shapes)), make([]int32, len(shapes))
	for s := range shapes {
		// One pass: the first rule for a root span and for any other;
		// only root-only rules can tell them apart.
		asRoot, other := int32(-1), int32(-1)
		for i := range rules.Rules {
			r := &rules.Rules[i]
			if r.Root {
				if asRoot < 0 && r.matches(&ops[shapes[s].Op], &shapes[s], true) {
					asRoot = int32(i)
				}
				continue
			}
			if r.matches(&ops[shapes[s].Op], &shapes[s], false) {
				other = int32(i)
				if asRoot < 0 {
					asRoot = other
				}
				break
			}
		}
		m.shapeRule[0][s], m.shapeRule[1][s] = other, asRoot
	}
	return m
}

// numStages counts all stage IDs: named ones and one per operation.
func (m *stageMap) numStages() int { return len(m.names) + len(m.ops) }

func (m *stageMap) name(stage int32) string {
	if int(stage) < len(m.names) {
		return m.names[stage]
	}
	if int(stage) == m.numStages() {
		return OtherStages
	}
	op := m.ops[int(stage)-len(m.names)]
	return op.Service + "/" + op.Name
}

func (m *stageMap) named(stage int32) bool { return int(stage) < len(m.names) }

// Rule outcomes per span: a rule index when the rule matched the span,
// inherited(r) when the span took rule r's stage from above, ruleUnmatched
// for a fallback stage.
const ruleUnmatched = -1

func inherited(r int32) int32 { return -2 - r }

// assign sets stage[i] to span i's stage and rule[i] to the rule outcome
// that decided it. shapeOp maps shapes to operations. carrier is scratch.
func (m *stageMap) assign(t *Trace, shapeOp func(uint32) uint32, stage, rule, carrier []int32) {
	for _, i := range t.Order {
		sp := &t.Spans[i]
		root := 0
		if i == t.Root {
			root = 1
		}
		r := m.shapeRule[root][sp.Shape]
		rule[i] = r
		carrier[i] = r
		if r < 0 && m.inherit {
			if p := t.Parent[i]; p >= 0 {
				if c := carrier[p]; c >= 0 {
					carrier[i] = c
					if m.rules.Rules[c].Inherit {
						r, rule[i] = c, inherited(c)
					}
				}
			}
		}
		if r >= 0 {
			stage[i] = m.ruleStage[r]
		} else {
			stage[i] = int32(len(m.names)) + int32(shapeOp(sp.Shape))
		}
	}
}

// DescribeRules lists rules as RuleUsage without any data: what
// `trace-forensics stages` prints without a source.
func DescribeRules(rs *StageRules) []RuleUsage {
	if rs == nil {
		rs = DefaultStageRules()
	}
	out := make([]RuleUsage, len(rs.Rules))
	for i := range rs.Rules {
		r := &rs.Rules[i]
		out[i] = RuleUsage{Index: i + 1, Stage: r.Stage, Conditions: r.Conditions(), Origin: r.Origin}
	}
	return out
}
