package analyze

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"
)

// Hand-built traces. span("root", 0, 100, span("a", 10, 60)) is a tree;
// names stand for operations, and times are whatever unit the test reads
// them in (the walk is unit-free).

type node struct {
	name       string
	start, end int64
	kind       model.Kind
	flags      model.Flags
	attrs      []model.Attr
	kids       []*node
}

func span(name string, start, end int64, kids ...*node) *node {
	return &node{name: name, start: start, end: end, kids: kids}
}

func (n *node) kindOf(k model.Kind) *node   { n.kind = k; return n }
func (n *node) flagged(f model.Flags) *node { n.flags |= f; return n }
func (n *node) followsFrom() *node          { return n.flagged(model.FlagFollowsFrom) }
func (n *node) linked() *node               { return n.flagged(model.FlagLinked) }
func (n *node) asServer() *node             { return n.kindOf(model.KindServer) }
func (n *node) asClient() *node             { return n.kindOf(model.KindClient) }
func (n *node) asProducer() *node           { return n.kindOf(model.KindProducer) }
func (n *node) asConsumer() *node           { return n.kindOf(model.KindConsumer) }

// traceBuilder turns trees and loose spans into sources.Span values. Every
// span gets its own Shape, whose name is names[Shape].
type traceBuilder struct {
	spans []model.Span
	names []string
	next  model.SpanID
}

func (b *traceBuilder) add(name string, id, parent model.SpanID, start, end int64, kind model.Kind, flags model.Flags) model.SpanID {
	if id == 0 {
		b.next++
		id = b.next + 1000
	}
	b.spans = append(b.spans, model.Span{
		Trace: model.TraceID{15: 1}, ID: id, Parent: parent,
		Start: start, End: end, Shape: uint32(len(b.names)), Kind: kind, Flags: flags,
	})
	b.names = append(b.names, name)
	return id
}

func (b *traceBuilder) tree(n *node, parent model.SpanID) {
	type item struct {
		n      *node
		parent model.SpanID
	}
	stack := []item{{n, parent}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		id := b.add(it.n.name, 0, it.parent, it.n.start, it.n.end, it.n.kind, it.n.flags)
		for k := len(it.n.kids) - 1; k >= 0; k-- {
			stack = append(stack, item{it.n.kids[k], id})
		}
	}
}

func (b *traceBuilder) trace() (*Trace, []string) {
	t := &Trace{Spans: append([]model.Span(nil), b.spans...)}
	t.assemble()
	names := b.names
	return t, names
}

func build(roots ...*node) (*Trace, []string) {
	var b traceBuilder
	for _, r := range roots {
		b.tree(r, 0)
	}
	return b.trace()
}

func spanIndex(t *Trace, names []string, name string) int {
	for i := range t.Spans {
		if names[t.Spans[i].Shape] == name {
			return i
		}
	}
	return -1
}

// cpResult is the critical path of a hand-built trace by span name.
type cpResult struct {
	byName map[string]int64
	issues cpIssues
	slices []Slice
	t      *Trace
	names  []string
}

func critical(tb testing.TB, t *Trace, names []string) cpResult {
	tb.Helper()
	cp := make([]int64, len(t.Spans))
	var sc cpScratch
	var is cpIssues
	sl := t.criticalPath(&sc, cp, nil, &is)
	res := cpResult{byName: map[string]int64{}, issues: is, slices: sl, t: t, names: names}
	total := int64(0)
	for i, v := range cp {
		if v < 0 {
			tb.Fatalf("span %s has negative critical-path time %d", names[t.Spans[i].Shape], v)
		}
		if v != 0 {
			res.byName[names[t.Spans[i].Shape]] += v
		}
		total += v
	}
	if t.Root >= 0 {
		if d := t.Spans[t.Root].Duration(); total != d {
			tb.Fatalf("critical path sums to %d, root lasts %d", total, d)
		}
		checkSlices(tb, t, sl)
	} else if total != 0 {
		tb.Fatalf("trace without root has critical path %d", total)
	}
	return res
}

// checkSlices: the slices tile the root's interval without overlap.
func checkSlices(tb testing.TB, t *Trace, sl []Slice) {
	tb.Helper()
	s := append([]Slice(nil), sl...)
	slices.SortFunc(s, func(a, b Slice) int { return cmp.Compare(a.From, b.From) })
	r := &t.Spans[t.Root]
	at := r.Start
	for _, x := range s {
		if x.From != at || x.To <= x.From {
			tb.Fatalf("slices do not tile the root [%d,%d]: at %d got %+v (all %+v)", r.Start, r.End, at, x, s)
		}
		at = x.To
	}
	if len(s) > 0 && at != r.End {
		tb.Fatalf("slices end at %d, root ends at %d", at, r.End)
	}
}

func expectCP(tb testing.TB, got cpResult, want map[string]int64) {
	tb.Helper()
	for k, v := range want {
		if got.byName[k] != v {
			tb.Errorf("critical path of %s = %d, want %d (all: %v)", k, got.byName[k], v, got.byName)
		}
	}
	for k, v := range got.byName {
		if _, ok := want[k]; !ok {
			tb.Errorf("unexpected %s on the critical path with %d (all: %v)", k, v, got.byName)
		}
	}
}

func TestCriticalPathSingleSpan(t *testing.T) {
	tr, names := build(span("root", 0, 100))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 100})
}

func TestCriticalPathSequentialChildren(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("a", 10, 30), span("b", 40, 50), span("c", 60, 90)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 40, "a": 20, "b": 10, "c": 30})
}

// Parallel fan-out: only the branch that was waited on is charged.
func TestCriticalPathParallelFanOut(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("fast", 10, 40, span("fast-db", 15, 35)),
		span("slow", 10, 80, span("slow-db", 20, 70))))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"root": 30, "slow": 20, "slow-db": 50})
	// The slices say where: root after 80 and before 10, slow around its db call.
	var rootSlices [][2]int64
	for _, s := range res.slices {
		if names[tr.Spans[s.Span].Shape] == "root" {
			rootSlices = append(rootSlices, [2]int64{s.From, s.To})
		}
	}
	slices.SortFunc(rootSlices, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	if want := [][2]int64{{0, 10}, {80, 100}}; !slices.Equal(rootSlices, want) {
		t.Errorf("root slices %v, want %v", rootSlices, want)
	}
}

// A fan-out where the branches finish in turn: the walk goes from the last
// to finish to the one that finished before it started.
func TestCriticalPathChainThroughParallelBranches(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("a", 0, 50), span("b", 10, 40), span("c", 55, 100)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 5, "a": 50, "c": 45})
}

func TestCriticalPathChildStartsBeforeParent(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("p", 20, 80, span("early", 10, 50))))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"root": 40, "p": 30, "early": 30})
	if res.issues.clipped != 1 {
		t.Errorf("clipped = %d, want 1", res.issues.clipped)
	}
}

func TestCriticalPathChildEndsAfterParent(t *testing.T) { // CRISP case 8's shape
	tr, names := build(span("A", 0, 100, span("B", 10, 70, span("C", 20, 120))))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"A": 40, "B": 10, "C": 50})
	if res.issues.clipped != 1 {
		t.Errorf("clipped = %d, want 1", res.issues.clipped)
	}
}

func TestCriticalPathChildCoversParent(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("p", 20, 80, span("cover", 0, 200, span("inner", 30, 40)))))
	res := critical(t, tr, names)
	// cover is clipped to p's [20,80]; inner sits inside it.
	expectCP(t, res, map[string]int64{"root": 40, "cover": 50, "inner": 10})
	if res.issues.clipped != 1 {
		t.Errorf("clipped = %d, want 1", res.issues.clipped)
	}
}

// A child wholly outside its parent is dropped from the path with its
// subtree (CRISP case 9); the statistics keep it (TestAnalyzeKeepsOffPathSpans).
func TestCriticalPathChildOutsideParent(t *testing.T) {
	tr, names := build(span("A", 0, 100,
		span("B", 110, 160, span("C", 120, 150)),
		span("D", 60, 90)))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"A": 70, "D": 30})
	if res.issues.outside != 1 {
		t.Errorf("outside = %d, want 1", res.issues.outside)
	}
}

// A server span slightly longer than its client (skew within 1 % of the
// client's duration) is aligned with the client rather than clipped.
func TestCriticalPathServerSlightlyLongerThanClient(t *testing.T) {
	tr, names := build(span("root", 0, 2000,
		span("client", 100, 1100,
			span("server", 95, 1103, span("db", 500, 900)).asServer()).asClient()))
	res := critical(t, tr, names)
	// server is shifted +5 to start with the client (db moves with it, to
	// [505,905]) and capped at the client's end.
	expectCP(t, res, map[string]int64{"root": 1000, "server": 600, "db": 400})
	if res.issues.shifted != 1 || res.issues.clipped != 0 {
		t.Errorf("issues %+v, want one shift and no clip", res.issues)
	}
}

func TestCriticalPathChildProtrudesWithinTolerance(t *testing.T) {
	tr, names := build(span("root", 0, 1000,
		span("late", 500, 1008, span("leaf", 990, 1008))))
	res := critical(t, tr, names)
	// late is shifted 8 earlier to end with root; its leaf moves with it.
	expectCP(t, res, map[string]int64{"root": 492, "late": 490, "leaf": 18})
	if res.issues.shifted != 1 {
		t.Errorf("shifted = %d, want 1", res.issues.shifted)
	}
}

// Sibling overlap within 1 % of the parent is clock skew (CRISP case 10):
// each child keeps its full length and the parent's own time pays.
func TestCriticalPathSiblingOverlapFromSkew(t *testing.T) {
	tr, names := build(span("A", 0, 1000,
		span("B", 10, 210), span("C", 209, 309), span("D", 308, 608)))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"A": 400, "B": 200, "C": 100, "D": 300})
	if res.issues.overlaps != 2 {
		t.Errorf("overlaps = %d, want 2", res.issues.overlaps)
	}
}

func TestCriticalPathSiblingOverlapBeyondTolerance(t *testing.T) { // CRISP case 14's shape
	tr, names := build(span("A", 0, 80,
		span("B", 10, 30), span("C", 20, 45), span("D", 40, 65)))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"A": 35, "B": 20, "D": 25})
	if res.issues.overlaps != 0 {
		t.Errorf("overlaps = %d, want 0", res.issues.overlaps)
	}
	// Within the allowance (100 here) but starting after the path child it
	// overlaps: a short call made beside it, not before it. CRISP would
	// chain it in; we keep it off the path.
	tr, names = build(span("P", 0, 10000, span("A", 2000, 9000), span("beside", 2010, 2060)))
	expectCP(t, critical(t, tr, names), map[string]int64{"P": 3000, "A": 7000})
}

func TestCriticalPathEqualEndTimes(t *testing.T) {
	// Both end at 90: the longer one is taken, the other ran in parallel.
	tr, names := build(span("root", 0, 100, span("short", 50, 90), span("long", 20, 90)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 30, "long": 70})
	// Same length too: the lower span ID (the first built) wins, whatever the input order.
	tr, names = build(span("root", 0, 100, span("x", 20, 90), span("y", 20, 90)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 30, "x": 70})
	// A child ending with its parent leaves the parent nothing after it.
	tr, names = build(span("root", 0, 100, span("tail", 40, 100)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 40, "tail": 60})
}

func TestCriticalPathZeroDurationSpans(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("event", 50, 50), span("work", 10, 40), span("mark", 95, 95)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 70, "work": 30})
	// A zero-duration root: nothing to wait on.
	tr, names = build(span("root", 7, 7, span("kid", 7, 7)))
	expectCP(t, critical(t, tr, names), map[string]int64{})
}

// Timestamps of 0 are valid times (CRISP's cases start at 0), not missing ones.
func TestCriticalPathZeroTimestamps(t *testing.T) {
	tr, names := build(span("root", 0, 100, span("first", 0, 30), span("zero-len", 0, 0)))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 70, "first": 30})
	// A child stamped 0 under a parent at real epoch times starts long
	// before it: clipped, counted.
	tr, names = build(span("root", 1e18, 1e18+100, span("stamped-0", 0, 1e18+50)))
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"root": 50, "stamped-0": 50})
	if res.issues.clipped != 1 {
		t.Errorf("clipped = %d, want 1", res.issues.clipped)
	}
}

func TestCriticalPathFollowsFromOffPath(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("sync", 10, 40),
		span("async", 50, 95, span("async-db", 60, 90)).followsFrom()))
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 70, "sync": 30})
}

func TestCriticalPathProducerConsumerOffPath(t *testing.T) {
	tr, names := build(span("root", 0, 100,
		span("publish", 80, 85,
			span("consume", 86, 300, span("process", 90, 290)).asConsumer()).asProducer()).asServer())
	res := critical(t, tr, names)
	expectCP(t, res, map[string]int64{"root": 95, "publish": 5})
	if res.issues.outside+res.issues.clipped != 0 {
		t.Errorf("async children must not count as clipped or dropped: %+v", res.issues)
	}
	// A consumer under something other than a producer (a synchronous
	// receive inside a client call) does block.
	tr, names = build(span("root", 0, 100, span("receive", 10, 60).asConsumer()).asClient())
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 50, "receive": 50})
}

// Links are not parent edges: a span that only links to the request is a
// root of its own and never on the request's path, even when it is longer.
func TestCriticalPathSpanLinksOffPath(t *testing.T) {
	tr, names := build(
		span("request", 0, 100, span("work", 10, 60)).asServer(),
		span("batch", 50, 500, span("batch-step", 60, 400)).linked())
	if tr.Spans[tr.Root].Flags&model.FlagLinked != 0 {
		t.Fatalf("the linked span was taken as the request")
	}
	expectCP(t, critical(t, tr, names), map[string]int64{"request": 50, "work": 50})
}

func TestCriticalPathOrphans(t *testing.T) {
	var b traceBuilder
	b.tree(span("root", 0, 100, span("a", 10, 50)), 0)
	b.tree(span("orphan", 20, 90, span("orphan-kid", 30, 80)), 999999) // parent not in the trace
	tr, names := b.trace()
	if tr.Orphan[spanIndex(tr, names, "orphan")] != true {
		t.Fatalf("orphan not marked")
	}
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 60, "a": 40})
}

func TestCriticalPathSeveralRoots(t *testing.T) {
	tr, names := build(span("short-root", 0, 50, span("x", 0, 50)), span("long-root", 10, 210, span("y", 20, 200)))
	expectCP(t, critical(t, tr, names), map[string]int64{"long-root": 20, "y": 180})
}

func TestCriticalPathDuplicateSpanIDs(t *testing.T) {
	var b traceBuilder
	root := b.add("root", 1, 0, 0, 100, 0, 0)
	b.add("first", 2, root, 10, 40, 0, 0)
	b.add("again", 2, root, 50, 90, 0, 0) // same ID, later start: ignored
	b.add("kid", 3, 2, 20, 30, 0, 0)
	tr, names := b.trace()
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 70, "first": 20, "kid": 10})
}

func TestCriticalPathParentCycle(t *testing.T) {
	var b traceBuilder
	root := b.add("root", 1, 0, 0, 100, 0, 0)
	b.add("a", 2, root, 10, 60, 0, 0)
	b.add("x", 3, 4, 20, 30, 0, 0) // x and y name each other
	b.add("y", 4, 3, 25, 28, 0, 0)
	tr, names := b.trace()
	if tr.breakCycles() != 0 { // already broken during assembly
		t.Fatalf("cycle survived assembly")
	}
	expectCP(t, critical(t, tr, names), map[string]int64{"root": 50, "a": 50})
	// A trace that is only a cycle has no root and no path.
	b = traceBuilder{}
	b.add("x", 3, 4, 20, 30, 0, 0)
	b.add("y", 4, 3, 25, 28, 0, 0)
	tr, names = b.trace()
	if tr.Root != -1 {
		t.Fatalf("a cycle got a root")
	}
	expectCP(t, critical(t, tr, names), map[string]int64{})
}

// A partial trace (the root is missing) has no request and no path.
func TestCriticalPathPartialTrace(t *testing.T) {
	var b traceBuilder
	b.tree(span("server", 10, 90, span("db", 20, 80)), 12345)
	tr, names := b.trace()
	if tr.Root != -1 {
		t.Fatalf("partial trace got root %d", tr.Root)
	}
	expectCP(t, critical(t, tr, names), map[string]int64{})
}

func TestCriticalPathVeryDeep(t *testing.T) {
	const depth = 200_000
	var b traceBuilder
	parent := model.SpanID(0)
	for i := range depth {
		parent = b.add(fmt.Sprint("d", i%10), 0, parent, int64(i), int64(2*depth-i), 0, 0)
	}
	tr, names := b.trace()
	res := critical(t, tr, names)
	// Every level gets 2 (one at each end); the innermost its own 2.
	if got := res.byName["d0"]; got != 2*depth/10 {
		t.Errorf("d0 = %d, want %d", got, 2*depth/10)
	}
}

func TestCriticalPathVeryWide(t *testing.T) {
	const width = 200_000
	var b traceBuilder
	root := b.add("root", 0, 0, 0, 3*width, 0, 0)
	for i := range width {
		// Sequential children of length 2 with gaps of 1, and parallel
		// shorter ones that never matter.
		b.add("seq", 0, root, int64(3*i+1), int64(3*i+3), 0, 0)
		b.add("par", 0, root, int64(3*i+1), int64(3*i+2), 0, 0)
	}
	tr, names := b.trace()
	expectCP(t, critical(t, tr, names), map[string]int64{"root": width, "seq": 2 * width})
}

// Random trees: the slices always tile the root and no time is negative.
func TestCriticalPathRandomTreesTileTheRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		var b traceBuilder
		n := 1 + rng.IntN(40)
		type sp struct {
			id         model.SpanID
			start, end int64
		}
		var made []sp
		for i := range n {
			var parent model.SpanID
			s := rng.Int64N(1000)
			e := s + rng.Int64N(500)
			if i > 0 && rng.IntN(10) > 0 {
				p := made[rng.IntN(len(made))]
				parent = p.id
				// Mostly inside the parent, sometimes sticking out.
				if rng.IntN(5) > 0 && p.end > p.start {
					s = p.start + rng.Int64N(p.end-p.start+1)
					e = s + rng.Int64N(p.end-s+1)
				}
			}
			var fl model.Flags
			if rng.IntN(15) == 0 {
				fl |= model.FlagFollowsFrom
			}
			kind := model.Kind(rng.IntN(6))
			id := b.add(fmt.Sprint("op", rng.IntN(5)), 0, parent, s, e, kind, fl)
			made = append(made, sp{id, s, e})
		}
		tr, names := b.trace()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("iteration %d: %v", iter, r)
				}
			}()
			critical(t, tr, names)
		}()
	}
}
