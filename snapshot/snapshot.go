// Package snapshot stores a breakdown's distributions so that later runs can
// compare against them without the traces: per request, stage, operation
// and group, the HDR histograms themselves with their exact counts, sums and
// exemplars, and the stage rules, inputs and time window they came from. It
// sits after analyze in the pipeline (sources → analyze → snapshot →
// compare); `trace-forensics snapshot`, `merge`, `compare` and `gate` use it.
//
// The file is versioned JSON. Its schema only grows: fields are added, never
// renamed or removed, a newer binary reads every older version (the v1
// fixture in testdata/ is read by a test forever), and readers ignore
// fields they do not know. See VersionLog.
package snapshot

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// Format is the value of the "format" field, the first of every snapshot:
// what tells a snapshot from a trace file.
const Format = "trace-forensics-snapshot"

// Version is the schema version this binary writes. It reads every version
// up to it, and newer ones with a note (their added fields are ignored).
const Version = 1

// VersionLog is the history of the schema, newest last; the README shows it.
var VersionLog = []string{
	"1: requests, stages (critical-path, self and wall-clock time per request), operations (inclusive and self time per span, critical-path time per request) and --group-by groups, each as HDR histograms (V2 compressed, base64, µs, 1 µs…1 h, 3 significant digits) with exact count, sum, min, max and exemplars; stage rules, filter, inputs, time window, warnings.",
}

// Snapshot is one stored breakdown.
type Snapshot struct {
	Format        string `json:"format"`
	SchemaVersion int    `json:"schema_version"`
	// Tool is the trace-forensics version that wrote the file.
	Tool string `json:"tool,omitempty"`
	// ExemplarsPerFigure is how many slowest traces each distribution keeps.
	ExemplarsPerFigure int                  `json:"exemplars_per_figure"`
	Inputs             []model.Input        `json:"inputs"`
	Window             *Window              `json:"window,omitempty"`
	TracesRead         int64                `json:"traces_read"`
	Traces             int64                `json:"traces"`
	Spans              int64                `json:"spans"`
	Filter             Filter               `json:"filter"`
	StageRules         []Rule               `json:"stage_rules"`
	Requests           Requests             `json:"requests"`
	Stages             []Stage              `json:"stages"`
	Operations         []Operation          `json:"operations"`
	GroupBy            string               `json:"group_by,omitempty"`
	Groups             []Group              `json:"groups,omitempty"`
	Warnings           []model.WarningCount `json:"warnings"`
	// Notes are what merging or reading found questionable: snapshots made
	// with different stage rules, an input counted twice, a newer schema.
	Notes []string `json:"notes,omitempty"`
}

// Window spans the start times of the counted requests.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Filter is the request and operation filter the breakdown was made with.
type Filter struct {
	Services      []string   `json:"services,omitempty"`
	Operation     string     `json:"operation,omitempty"`
	RootServices  []string   `json:"root_services,omitempty"`
	RootOperation string     `json:"root_operation,omitempty"`
	Since         *time.Time `json:"since,omitempty"`
	Until         *time.Time `json:"until,omitempty"`
	MinDurationNs int64      `json:"min_duration_ns,omitempty"`
}

// Rule is one stage rule as it was applied, in order.
type Rule struct {
	Stage      string `json:"stage"`
	Conditions string `json:"conditions"`
	Origin     string `json:"origin"`
}

// Breakdown is the figures of a set of requests: all of them, or a group.
type Breakdown struct {
	Requests   Requests
	Stages     []Stage
	Operations []Operation
}

// Requests is the end-to-end latency of the counted requests.
type Requests struct {
	Latency Dist  `json:"latency"`
	Errors  int64 `json:"errors"`
}

// Stage is one stage, per request over all counted requests (0 where it
// does not occur): its critical-path time (the stage's time in the
// request), its spans' summed self time, and the wall-clock time any of
// them was open.
type Stage struct {
	Name         string `json:"name"`
	Named        bool   `json:"named"` // defined by a rule, else service/operation
	Requests     int64  `json:"requests"`
	CriticalPath Dist   `json:"critical_path"`
	Self         Dist   `json:"self"`
	Duration     Dist   `json:"duration"`
}

// Operation is one operation (service + span name): inclusive and self time
// per span, critical-path time per request over all counted requests.
type Operation struct {
	Service      string `json:"service"`
	Operation    string `json:"operation"`
	Stage        string `json:"stage,omitempty"`
	Count        int64  `json:"count"`
	Errors       int64  `json:"errors"`
	Requests     int64  `json:"requests"`
	Duration     Dist   `json:"duration"`
	Self         Dist   `json:"self"`
	CriticalPath Dist   `json:"critical_path"`
}

// Name is how comparisons and gate rules name the operation:
// service/operation, as fallback stages are named.
func (o *Operation) Name() string { return o.Service + "/" + o.Operation }

// Group is the breakdown of the requests with one value of GroupBy.
type Group struct {
	Value      string      `json:"value"`
	Missing    bool        `json:"missing,omitempty"` // the requests without the key
	Requests   Requests    `json:"requests"`
	Stages     []Stage     `json:"stages"`
	Operations []Operation `json:"operations"`
}

// Breakdown returns the snapshot's figures over all requests.
func (s *Snapshot) Breakdown() *Breakdown {
	return &Breakdown{Requests: s.Requests, Stages: s.Stages, Operations: s.Operations}
}

// Breakdown returns the group's figures.
func (g *Group) Breakdown() *Breakdown {
	return &Breakdown{Requests: g.Requests, Stages: g.Stages, Operations: g.Operations}
}

// Group returns the group with the given value, or nil.
func (s *Snapshot) Group(value string) *Group {
	for i := range s.Groups {
		if !s.Groups[i].Missing && s.Groups[i].Value == value {
			return &s.Groups[i]
		}
	}
	return nil
}

// Meta is what a snapshot records besides the result.
type Meta struct {
	Tool      string
	Rules     *analyze.StageRules // nil: the built-in rules
	Filter    analyze.Filter
	Exemplars int // per figure, as the analysis kept them
}

// FromResult stores a breakdown.
func FromResult(r *analyze.Result, m Meta) (*Snapshot, error) {
	rules := m.Rules
	if rules == nil {
		rules = analyze.DefaultStageRules()
	}
	s := &Snapshot{
		Format: Format, SchemaVersion: Version, Tool: m.Tool, ExemplarsPerFigure: m.Exemplars,
		Inputs: slices.Clone(r.Inputs), TracesRead: int64(r.TracesRead), Traces: int64(r.Traces), Spans: int64(r.Spans),
		Filter: filterOf(m.Filter), GroupBy: r.GroupBy,
	}
	if s.Inputs == nil {
		s.Inputs = []model.Input{}
	}
	if !r.WindowStart.IsZero() {
		s.Window = &Window{Start: r.WindowStart, End: r.WindowEnd}
	}
	for _, u := range analyze.DescribeRules(rules) {
		s.StageRules = append(s.StageRules, Rule{Stage: u.Stage, Conditions: u.Conditions, Origin: u.Origin})
	}
	var err error
	if s.Requests, s.Stages, s.Operations, err = fromScope(r.Requests, r.Stages, r.Operations); err != nil {
		return nil, err
	}
	for _, g := range r.Groups {
		out := Group{Value: g.Value, Missing: g.Missing}
		if out.Requests, out.Stages, out.Operations, err = fromScope(g.Requests, g.Stages, g.Operations); err != nil {
			return nil, err
		}
		s.Groups = append(s.Groups, out)
	}
	for _, w := range r.Warnings {
		s.Warnings = append(s.Warnings, model.WarningCount(w))
	}
	if s.Warnings == nil {
		s.Warnings = []model.WarningCount{}
	}
	return s, nil
}

func fromScope(rs analyze.RequestStats, stages []analyze.StageStats, ops []analyze.OperationStats) (Requests, []Stage, []Operation, error) {
	req := Requests{Latency: fromDist(&rs.Dist, rs.Exemplars), Errors: rs.Errors}
	outS := make([]Stage, 0, len(stages))
	for i := range stages {
		st := &stages[i]
		outS = append(outS, Stage{
			Name: st.Stage, Named: st.Named, Requests: st.Requests,
			CriticalPath: fromDist(&st.CriticalPathDist, st.Exemplars),
			Self:         fromDist(&st.SelfDist, nil),
			Duration:     fromDist(&st.DurationDist, nil),
		})
	}
	outO := make([]Operation, 0, len(ops))
	for i := range ops {
		o := &ops[i]
		outO = append(outO, Operation{
			Service: o.Service, Operation: o.Operation, Stage: o.Stage,
			Count: o.Count, Errors: o.Errors, Requests: o.Requests,
			Duration:     fromDist(&o.DurationDist, o.Exemplars),
			Self:         fromDist(&o.SelfDist, nil),
			CriticalPath: fromDist(&o.CriticalPathDist, nil),
		})
	}
	return req, outS, outO, nil
}

// fromDist copies an analysis distribution; ids are the trace IDs the
// result lists for it, in the order of its exemplar values.
func fromDist(d *analyze.Dist, ids []string) Dist {
	out := Dist{Count: d.Count, SumNs: d.SumNs, MinNs: d.MinNs, MaxNs: d.MaxNs, OverRange: d.OverRange}
	if d.Count == 0 {
		return out
	}
	out.hist = newHist()
	out.hist.MergeFrom(d.Histogram())
	vals := d.ExemplarValues()
	for i := 0; i < min(len(ids), len(vals)); i++ {
		out.Exemplars = append(out.Exemplars, Exemplar{TraceID: ids[i], Ns: vals[i]})
	}
	return out
}

func filterOf(f analyze.Filter) Filter {
	out := Filter{Services: f.Services, RootServices: f.RootServices, MinDurationNs: int64(f.MinDuration)}
	if f.Operation != nil {
		out.Operation = f.Operation.String()
	}
	if f.RootOperation != nil {
		out.RootOperation = f.RootOperation.String()
	}
	if !f.Since.IsZero() {
		t := f.Since.UTC()
		out.Since = &t
	}
	if !f.Until.IsZero() {
		t := f.Until.UTC()
		out.Until = &t
	}
	return out
}

// Write writes the snapshot as indented JSON.
func (s *Snapshot) Write(w io.Writer) error {
	s.Format, s.SchemaVersion = Format, Version
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

var sniffRE = regexp.MustCompile(`^\s*\{\s*"format"\s*:\s*"` + Format + `"`)

// Is reports whether the first bytes of a file are a snapshot's: an object
// whose first field is "format": "trace-forensics-snapshot".
func Is(head []byte) bool { return sniffRE.Match(head) }

// IsFile reports whether path names a snapshot file (false for directories,
// globs and stdin, which are trace sources).
func IsFile(path string) bool {
	if path == "-" {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		return false
	}
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	return Is(head[:n])
}

// ReadFile reads a snapshot file; errors name it.
func ReadFile(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(bufio.NewReader(f), path)
}

// Read reads a snapshot of any version up to Version, and newer ones with a
// note. Unknown fields are ignored. Every histogram is checked against the
// counts beside it; an error says where.
func Read(r io.Reader, name string) (*Snapshot, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: byte %d: %v", name, se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: byte %d: %s: %v", name, te.Offset, te.Field, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if s.Format != Format {
		what := "no \"format\" field"
		if s.Format != "" {
			what = fmt.Sprintf("format %q", s.Format)
		}
		if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
			what = "not a JSON object"
		}
		return nil, fmt.Errorf("%s: not a trace-forensics snapshot (%s)", name, what)
	}
	switch {
	case s.SchemaVersion < 1:
		return nil, fmt.Errorf("%s: schema_version %d is not a snapshot version", name, s.SchemaVersion)
	case s.SchemaVersion > Version:
		s.Notes = append(s.Notes, fmt.Sprintf("%s has snapshot schema version %d, newer than this binary's %d: fields added since are ignored", name, s.SchemaVersion, Version))
	}
	upgrade(&s)
	if err := s.decode(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

// upgrade fills in what older versions did not have. Version 1 is the
// first; a version 2 that adds a field would default it here for files of
// version 1.
func upgrade(s *Snapshot) {
	if s.Inputs == nil {
		s.Inputs = []model.Input{}
	}
	if s.Warnings == nil {
		s.Warnings = []model.WarningCount{}
	}
}

// decode decodes and checks every histogram.
func (s *Snapshot) decode() error {
	if err := decodeScope("", &s.Requests, s.Stages, s.Operations); err != nil {
		return err
	}
	for i := range s.Groups {
		g := &s.Groups[i]
		if err := decodeScope(fmt.Sprintf("groups[%d] (%s).", i, g.Value), &g.Requests, g.Stages, g.Operations); err != nil {
			return err
		}
	}
	return nil
}

func decodeScope(prefix string, req *Requests, stages []Stage, ops []Operation) error {
	check := func(path string, d *Dist) error {
		if err := d.decode(); err != nil {
			return fmt.Errorf("%s%s: %v", prefix, path, err)
		}
		return nil
	}
	if err := check("requests.latency", &req.Latency); err != nil {
		return err
	}
	for i := range stages {
		st := &stages[i]
		p := fmt.Sprintf("stages[%d] (%s).", i, st.Name)
		for _, d := range []struct {
			n string
			d *Dist
		}{{"critical_path", &st.CriticalPath}, {"self", &st.Self}, {"duration", &st.Duration}} {
			if err := check(p+d.n, d.d); err != nil {
				return err
			}
		}
	}
	for i := range ops {
		o := &ops[i]
		p := fmt.Sprintf("operations[%d] (%s).", i, o.Name())
		for _, d := range []struct {
			n string
			d *Dist
		}{{"duration", &o.Duration}, {"self", &o.Self}, {"critical_path", &o.CriticalPath}} {
			if err := check(p+d.n, d.d); err != nil {
				return err
			}
		}
	}
	return nil
}

// Merge combines snapshots exactly: histograms add, counts and sums add,
// the slowest exemplars of all are kept, windows widen. Stages and
// operations that one snapshot lacks count as 0 in its requests. What does
// not add up (different stage rules, filters or grouping keys, an input in
// two snapshots) is kept as a note.
func Merge(snaps ...*Snapshot) (*Snapshot, error) {
	if len(snaps) == 0 {
		return nil, errors.New("nothing to merge")
	}
	out := &Snapshot{Format: Format, SchemaVersion: Version, Tool: snaps[0].Tool, Filter: snaps[0].Filter,
		StageRules: snaps[0].StageRules, GroupBy: snaps[0].GroupBy, Inputs: []model.Input{}}
	warn := map[string]*model.WarningCount{}
	var warnOrder []string
	inputs := map[string]bool{}
	groupsOK := true
	for i, s := range snaps {
		out.Notes = append(out.Notes, s.Notes...)
		out.ExemplarsPerFigure = max(out.ExemplarsPerFigure, s.ExemplarsPerFigure)
		for _, in := range s.Inputs {
			if inputs[in.Name] && in.Name != "stdin" {
				out.Notes = append(out.Notes, fmt.Sprintf("input %s is in more than one merged snapshot: its requests count twice", in.Name))
			}
			inputs[in.Name] = true
			out.Inputs = append(out.Inputs, in)
		}
		if s.Window != nil {
			if out.Window == nil {
				w := *s.Window
				out.Window = &w
			} else {
				if s.Window.Start.Before(out.Window.Start) {
					out.Window.Start = s.Window.Start
				}
				if s.Window.End.After(out.Window.End) {
					out.Window.End = s.Window.End
				}
			}
		}
		out.TracesRead += s.TracesRead
		out.Traces += s.Traces
		out.Spans += s.Spans
		for _, w := range s.Warnings {
			if e, ok := warn[w.Kind]; ok {
				e.Count += w.Count
			} else {
				w := w
				warn[w.Kind] = &w
				warnOrder = append(warnOrder, w.Kind)
			}
		}
		if i == 0 {
			continue
		}
		if !slices.Equal(s.StageRules, out.StageRules) {
			out.Notes = append(out.Notes, fmt.Sprintf("snapshot %d was made with other stage rules than the first; the first's are recorded", i+1))
		}
		if !filterEqual(s.Filter, out.Filter) {
			out.Notes = append(out.Notes, fmt.Sprintf("snapshot %d was made with another filter than the first; the first's is recorded", i+1))
		}
		if s.GroupBy != out.GroupBy {
			groupsOK = false
		}
	}
	slices.Sort(warnOrder)
	out.Warnings = []model.WarningCount{}
	for _, k := range warnOrder {
		out.Warnings = append(out.Warnings, *warn[k])
	}
	k := out.ExemplarsPerFigure

	scopes := make([]*Breakdown, len(snaps))
	for i, s := range snaps {
		scopes[i] = s.Breakdown()
	}
	b := mergeBreakdowns(scopes, k)
	out.Requests, out.Stages, out.Operations = b.Requests, b.Stages, b.Operations

	if !groupsOK {
		out.GroupBy = ""
		out.Notes = append(out.Notes, "the merged snapshots are grouped by different keys (or some not at all): groups dropped")
		return out, nil
	}
	type gkey struct {
		value   string
		missing bool
	}
	var keys []gkey
	for _, s := range snaps {
		for _, g := range s.Groups {
			k := gkey{g.Value, g.Missing}
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	for _, key := range keys {
		parts := make([]*Breakdown, len(snaps))
		for i, s := range snaps {
			parts[i] = &Breakdown{}
			for j := range s.Groups {
				if g := &s.Groups[j]; g.Value == key.value && g.Missing == key.missing {
					parts[i] = g.Breakdown()
				}
			}
		}
		m := mergeBreakdowns(parts, k)
		out.Groups = append(out.Groups, Group{Value: key.value, Missing: key.missing, Requests: m.Requests, Stages: m.Stages, Operations: m.Operations})
	}
	slices.SortStableFunc(out.Groups, func(a, b Group) int {
		if a.Missing != b.Missing {
			if a.Missing {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return out, nil
}

func filterEqual(a, b Filter) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// mergeBreakdowns adds breakdowns of disjoint sets of requests. The
// per-request distributions of a stage or operation that a part lacks get
// a 0 for each of that part's requests, as the analysis would have given.
func mergeBreakdowns(parts []*Breakdown, k int) *Breakdown {
	out := &Breakdown{}
	stageAt := map[string]int{}
	opAt := map[string]int{}
	var before int64 // requests of the parts merged so far
	for _, p := range parts {
		n := p.Requests.Latency.Count
		out.Requests.Latency.Merge(&p.Requests.Latency, k)
		out.Requests.Errors += p.Requests.Errors
		seenS := make([]bool, len(out.Stages))
		for i := range p.Stages {
			st := &p.Stages[i]
			j, ok := stageAt[st.Name]
			if !ok {
				j = len(out.Stages)
				stageAt[st.Name] = j
				ns := Stage{Name: st.Name, Named: st.Named}
				for _, d := range []*Dist{&ns.CriticalPath, &ns.Self, &ns.Duration} {
					d.RecordZeros(before)
				}
				out.Stages = append(out.Stages, ns)
			} else {
				seenS[j] = true
			}
			o := &out.Stages[j]
			o.Named = o.Named || st.Named
			o.Requests += st.Requests
			o.CriticalPath.Merge(fill(&st.CriticalPath, n), k)
			o.Self.Merge(fill(&st.Self, n), k)
			o.Duration.Merge(fill(&st.Duration, n), k)
		}
		for j, seen := range seenS {
			if !seen {
				o := &out.Stages[j]
				for _, d := range []*Dist{&o.CriticalPath, &o.Self, &o.Duration} {
					d.RecordZeros(n)
				}
			}
		}
		seenO := make([]bool, len(out.Operations))
		for i := range p.Operations {
			op := &p.Operations[i]
			j, ok := opAt[op.Name()]
			if !ok {
				j = len(out.Operations)
				opAt[op.Name()] = j
				no := Operation{Service: op.Service, Operation: op.Operation, Stage: op.Stage}
				no.CriticalPath.RecordZeros(before)
				out.Operations = append(out.Operations, no)
			} else {
				seenO[j] = true
			}
			o := &out.Operations[j]
			if o.Stage == "" {
				o.Stage = op.Stage
			}
			o.Count += op.Count
			o.Errors += op.Errors
			o.Requests += op.Requests
			o.Duration.Merge(&op.Duration, k)
			o.Self.Merge(&op.Self, k)
			o.CriticalPath.Merge(fill(&op.CriticalPath, n), k)
		}
		for j, seen := range seenO {
			if !seen {
				out.Operations[j].CriticalPath.RecordZeros(n)
			}
		}
		before += n
	}
	// The analysis's orders: stages by critical-path time, operations by
	// self time, largest first.
	slices.SortStableFunc(out.Stages, func(a, b Stage) int {
		if c := cmp.Compare(b.CriticalPath.SumNs, a.CriticalPath.SumNs); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	slices.SortStableFunc(out.Operations, func(a, b Operation) int {
		if c := cmp.Compare(b.Self.SumNs, a.Self.SumNs); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Operation, b.Operation)
	})
	if out.Stages == nil {
		out.Stages = []Stage{}
	}
	if out.Operations == nil {
		out.Operations = []Operation{}
	}
	return out
}

// fill returns d with zeros added up to n values, for per-request
// distributions that a writer left short.
func fill(d *Dist, n int64) *Dist {
	if d.Count >= n {
		return d
	}
	c := *d
	if d.hist != nil {
		c.hist = d.hist.Clone()
	}
	c.RecordZeros(n - d.Count)
	return &c
}

// Describe says in a few words what a snapshot holds, for headlines.
func (s *Snapshot) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests", s.Requests.Latency.Count)
	if s.Window != nil {
		fmt.Fprintf(&b, ", %s … %s", s.Window.Start.UTC().Format("2006-01-02 15:04:05Z07:00"), s.Window.End.UTC().Format("2006-01-02 15:04:05Z07:00"))
	}
	return b.String()
}
