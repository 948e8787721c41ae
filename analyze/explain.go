package analyze

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/trace-forensics/trace-forensics/model"
)

// Explanation is one trace, explained: every span with its depth, stage,
// self time and critical-path slices, and the trace's stage breakdown.
// Times are nanoseconds; offsets are from the request root's start (or the
// earliest span's, without a root), after clock-skew adjustment.
type Explanation struct {
	TraceID    string
	Root       int   // index in Spans of the request's root, or -1
	StartNs    int64 // the offsets' origin, Unix nanoseconds
	DurationNs int64 // the request's end-to-end latency
	UntracedNs int64
	// UntracedShare is UntracedNs over DurationNs.
	UntracedShare float64
	Spans         []ExplainedSpan // the request's tree depth-first, then spans outside it
	Stages        []TraceStage    // by critical-path time, largest first
	Warnings      []model.WarningCount
}

// ExplainedSpan is one span of an explained trace.
type ExplainedSpan struct {
	SpanID, ParentID   string // ParentID is "" for roots
	Depth              int
	Service, Operation string
	Kind               string
	Stage              string
	OffsetNs           int64 // start, from the origin
	DurationNs         int64
	SelfNs             int64
	CriticalPathNs     int64
	Slices             [][2]int64 // critical-path slices, as offsets
	Error              bool
	Async              bool  // FOLLOWS_FROM or a consumer of a producer: not waited for
	Detached           bool  // not under the request's root (orphan, other root, cut cycle)
	ShiftNs            int64 // clock-skew shift applied
}

// TraceStage is one stage of an explained trace.
type TraceStage struct {
	Stage          string
	Named          bool
	CriticalPathNs int64
	SelfNs         int64
	DurationNs     int64 // wall-clock time some span of the stage was open
	Spans          int
	Share          float64 // of the request's latency
}

// ErrTraceNotFound is returned by Explain for an ID the dataset lacks.
type ErrTraceNotFound struct{ ID string }

func (e ErrTraceNotFound) Error() string { return fmt.Sprintf("trace %s is not in the input", e.ID) }

// Explain analyses the trace with the given ID (as reports print it: 32 hex
// digits, or the original text of non-hex IDs; shorter hex is
// left-padded) with the same rules as Analyze.
func Explain(ds *model.Dataset, id string, opt Options) (*Explanation, error) {
	tid, ok := findTraceID(ds, id)
	if !ok {
		return nil, ErrTraceNotFound{id}
	}
	e, err := newEnv(ds, &opt)
	if err != nil {
		return nil, err
	}
	t := &Trace{ID: tid}
	for _, slab := range ds.Bucket(model.BucketOf(tid)) {
		for i := range slab {
			if slab[i].Trace == tid {
				t.Spans = append(t.Spans, slab[i])
			}
		}
	}
	if len(t.Spans) == 0 {
		return nil, ErrTraceNotFound{id}
	}
	w := newWorker(e)
	is := t.assemble()
	text := ds.TraceText(tid)
	w.countIssues(t, text, is)
	w.analyse(t, &w.f)
	w.countAdjustments(t, text)
	return w.explain(t, text), nil
}

// findTraceID maps an ID as the user wrote it to the dataset's.
func findTraceID(ds *model.Dataset, id string) (model.TraceID, bool) {
	for k, v := range ds.IDText {
		if v == id {
			return k, true
		}
	}
	h := strings.ToLower(strings.TrimSpace(id))
	if len(h) == 0 || len(h) > 32 {
		return model.TraceID{}, false
	}
	h = strings.Repeat("0", 32-len(h)) + h
	var t model.TraceID
	if _, err := hex.Decode(t[:], []byte(h)); err != nil {
		return t, false
	}
	return t, true
}

func (w *worker) explain(t *Trace, id string) *Explanation {
	f := &w.f
	x := &Explanation{TraceID: id, Root: -1}
	n := len(t.Spans)
	if t.Root >= 0 {
		x.StartNs = t.Spans[t.Root].Start
		x.DurationNs = t.Spans[t.Root].Duration()
	} else {
		x.StartNs = t.Spans[0].Start
		for i := range t.Spans {
			x.StartNs = min(x.StartNs, t.Spans[i].Start)
		}
	}
	// Depth-first from the root, then the other trees.
	shift := make([]int64, n)
	for _, s := range f.sk.shifts {
		if s.applied {
			shift[s.span] = s.delta
		}
	}
	slicesOf := make([][][2]int64, n)
	for _, s := range f.slices {
		slicesOf[s.Span] = append(slicesOf[s.Span], [2]int64{s.From - x.StartNs, s.To - x.StartNs})
	}
	depth := make([]int, n)
	seen := make([]bool, n)
	var order []int32
	walk := func(r int32) {
		stack := []int32{r}
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[i] {
				continue
			}
			seen[i] = true
			order = append(order, i)
			kids := t.Children(i)
			for k := len(kids) - 1; k >= 0; k-- {
				depth[kids[k]] = depth[i] + 1
				stack = append(stack, kids[k])
			}
		}
	}
	if t.Root >= 0 {
		walk(t.Root)
	}
	inRequest := slices.Clone(seen)
	for _, i := range t.Order {
		if t.Parent[i] < 0 {
			walk(i)
		}
	}
	for _, i := range order {
		s := &t.Spans[i]
		op := w.ops[w.shapeOp[s.Shape]]
		es := ExplainedSpan{
			SpanID: s.ID.String(), Depth: depth[i], Service: op.Service, Operation: op.Name, Kind: s.Kind.String(),
			Stage: w.stages.name(f.stage[i]), OffsetNs: s.Start - x.StartNs, DurationNs: s.Duration(),
			SelfNs: f.self[i], CriticalPathNs: f.cp[i], Slices: slicesOf[i],
			Error: s.Flags&model.FlagError != 0, Detached: !inRequest[i], ShiftNs: shift[i],
		}
		if s.Parent != 0 {
			es.ParentID = s.Parent.String()
		}
		if p := t.Parent[i]; p >= 0 {
			es.Async = !blocking(s, &t.Spans[p])
		}
		if i == t.Root {
			x.Root = len(x.Spans)
		}
		x.Spans = append(x.Spans, es)
	}

	// The trace's stages: critical path, self time, wall-clock time.
	type iv struct{ s, e int64 }
	by := map[int32]*TraceStage{}
	ivs := map[int32][]iv{}
	for i := range t.Spans {
		st := f.stage[i]
		ts := by[st]
		if ts == nil {
			ts = &TraceStage{Stage: w.stages.name(st), Named: w.stages.named(st)}
			by[st] = ts
		}
		ts.CriticalPathNs += f.cp[i]
		ts.SelfNs += f.self[i]
		ts.Spans++
		ivs[st] = append(ivs[st], iv{t.Spans[i].Start, t.Spans[i].End})
		if t.KidStart[i+1] > t.KidStart[i] {
			x.UntracedNs += f.cp[i]
		}
	}
	for st, ts := range by {
		v := ivs[st]
		slices.SortFunc(v, func(a, b iv) int { return cmp.Compare(a.s, b.s) })
		from, to := v[0].s, v[0].e
		for _, x := range v[1:] {
			if x.s <= to {
				to = max(to, x.e)
				continue
			}
			ts.DurationNs += to - from
			from, to = x.s, x.e
		}
		ts.DurationNs += to - from
		ts.Share = ratio(ts.CriticalPathNs, x.DurationNs)
		x.Stages = append(x.Stages, *ts)
	}
	x.UntracedShare = ratio(x.UntracedNs, x.DurationNs)
	slices.SortFunc(x.Stages, func(a, b TraceStage) int {
		if c := cmp.Compare(b.CriticalPathNs, a.CriticalPathNs); c != 0 {
			return c
		}
		return cmp.Compare(a.Stage, b.Stage)
	})
	var warn model.Warnings
	warn.Merge(&w.warn)
	x.Warnings = warn.List()
	return x
}
