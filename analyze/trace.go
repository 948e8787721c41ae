package analyze

import (
	"slices"

	"github.com/trace-forensics/trace-forensics/model"
)

// Trace is one assembled trace: its spans sorted by start time, each span's
// parent and children as indexes, and the span taken as the request.
// Walks over it are iterative, so depth is unbounded, and assembly is
// O(n log n) in the number of spans.
type Trace struct {
	ID    model.TraceID
	Spans []model.Span
	// Parent[i] is the index of span i's parent, or -1 for roots, orphans
	// and spans whose parent reference was broken to end a cycle.
	Parent []int32
	// Children of span i are Kids[KidStart[i]:KidStart[i+1]], by start time.
	KidStart []int32
	Kids     []int32
	// Root is the request's root span (the longest span without a parent
	// reference), or -1 when the trace has none.
	Root int32
	// Orphan[i] is true when span i names a parent that is not in the trace.
	Orphan []bool
	// Order lists every span once, parents before their children (a
	// depth-first preorder from each span without a parent), children in
	// start order.
	Order []int32

	order   []idIndex // scratch for buildChildren
	ids     []int32   // open-addressing table of span positions by span ID
	dropped []bool    // spans whose ID an earlier span already has
	state   []uint8   // scratch for breakCycles
	stack   []int32   // scratch for walks
}

type idIndex struct {
	id  model.SpanID
	idx int32
}

// Children returns the indexes of span i's children, sorted by start time.
func (t *Trace) Children(i int32) []int32 { return t.Kids[t.KidStart[i]:t.KidStart[i+1]] }

// traceIssues counts what assembly had to repair in one trace.
type traceIssues struct {
	duplicates, orphans, cycles int
	multipleRoots, noRoot       bool
}

// assemble builds the tree of t.Spans, which must all belong to one trace.
// It reuses t's slices, so a worker assembles many traces without garbage.
func (t *Trace) assemble() traceIssues {
	var is traceIssues
	spans := t.Spans
	sortSpans(spans)

	// Duplicate span IDs: keep the first by start time, drop the others.
	if dups := t.indexIDs(); dups > 0 {
		is.duplicates = dups
		w := 0
		for i := range spans {
			if !t.dropped[i] {
				spans[w] = spans[i]
				w++
			}
		}
		spans = spans[:w]
		t.Spans = spans
		t.indexIDs()
	}

	n := len(spans)
	t.Parent = resize(t.Parent, n)
	t.Orphan = resizeBool(t.Orphan, n)
	for i := range spans {
		t.Parent[i] = -1
		t.Orphan[i] = false
		p := spans[i].Parent
		if p == 0 {
			continue
		}
		j := t.lookupID(p)
		if j < 0 {
			t.Orphan[i] = true
			is.orphans++
			continue
		}
		t.Parent[i] = j
	}
	is.cycles = t.breakCycles()
	t.buildChildren()
	t.buildOrder()

	// The request is the longest span with no parent reference at all.
	// Spans that only link to another trace or consume a message (the
	// roots of asynchronous work) are taken only when nothing else is.
	t.Root = -1
	roots := 0
	for i := range spans {
		if spans[i].Parent != 0 {
			continue
		}
		roots++
		if t.Root < 0 || betterRoot(&spans[i], &spans[t.Root]) {
			t.Root = int32(i)
		}
	}
	is.multipleRoots = roots > 1
	is.noRoot = roots == 0
	return is
}

// betterRoot reports whether a is a better request root than b: a
// synchronous root beats an asynchronous one, then the longer wins.
func betterRoot(a, b *model.Span) bool {
	if aa, ab := asyncRoot(a), asyncRoot(b); aa != ab {
		return ab
	}
	return a.Duration() > b.Duration()
}

// asyncRoot: a root that consumes a message or only links to other work.
func asyncRoot(s *model.Span) bool {
	return s.Kind == model.KindConsumer || s.Flags&model.FlagLinked != 0
}

// buildOrder fills Order with a preorder walk from every span without a
// parent. Cycles were broken before, so every span is reached once.
func (t *Trace) buildOrder() {
	n := len(t.Spans)
	t.Order = resize(t.Order, n)[:0]
	stack := t.stack[:0]
	for i := range n {
		if t.Parent[i] >= 0 {
			continue
		}
		stack = append(stack, int32(i))
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			t.Order = append(t.Order, j)
			kids := t.Children(j)
			for k := len(kids) - 1; k >= 0; k-- { // first child on top
				stack = append(stack, kids[k])
			}
		}
	}
	t.stack = stack[:0]
}

// Traces are mostly small: below this many spans, sorting is a plain
// insertion sort with the comparison inlined, which is several times faster
// than the generic sort's calls through a function value.
const smallSort = 48

// spanBefore orders spans by start, longer first (parents before their
// children), then by ID, so the order is total and reproducible.
func spanBefore(a, b *model.Span) bool {
	if a.Start != b.Start {
		return a.Start < b.Start
	}
	if a.End != b.End {
		return a.End > b.End
	}
	return a.ID < b.ID
}

func sortSpans(spans []model.Span) {
	if len(spans) > smallSort {
		slices.SortFunc(spans, func(a, b model.Span) int {
			if spanBefore(&a, &b) {
				return -1
			}
			if spanBefore(&b, &a) {
				return 1
			}
			return 0
		})
		return
	}
	for i := 1; i < len(spans); i++ {
		if !spanBefore(&spans[i], &spans[i-1]) {
			continue
		}
		x := spans[i]
		j := i - 1
		for j >= 0 && spanBefore(&x, &spans[j]) {
			spans[j+1] = spans[j]
			j--
		}
		spans[j+1] = x
	}
}

// indexIDs fills the table of span positions by ID, in start order, and
// marks in t.dropped the spans whose ID an earlier span already has. It
// returns how many it marked.
func (t *Trace) indexIDs() int {
	n := len(t.Spans)
	size := 8
	for size < 2*n {
		size <<= 1
	}
	t.ids = resize(t.ids, size)
	for i := range t.ids {
		t.ids[i] = -1
	}
	t.dropped = resizeBool(t.dropped, n)
	mask := uint64(size - 1)
	dups := 0
	for i := range t.Spans {
		id := t.Spans[i].ID
		t.dropped[i] = false
		h := hashSpanID(id) & mask
		for t.ids[h] >= 0 && t.Spans[t.ids[h]].ID != id {
			h = (h + 1) & mask
		}
		if t.ids[h] >= 0 {
			t.dropped[i] = true
			dups++
			continue
		}
		t.ids[h] = int32(i)
	}
	return dups
}

// lookupID returns the position of the span with the given ID, or -1.
func (t *Trace) lookupID(id model.SpanID) int32 {
	mask := uint64(len(t.ids) - 1)
	for h := hashSpanID(id) & mask; t.ids[h] >= 0; h = (h + 1) & mask {
		if t.Spans[t.ids[h]].ID == id {
			return t.ids[h]
		}
	}
	return -1
}

func hashSpanID(id model.SpanID) uint64 {
	x := uint64(id)
	x ^= x >> 31
	x *= 0x9E3779B97F4A7C15
	return x ^ x>>29
}

// breakCycles finds spans that cannot reach a root through parent links and
// cuts the parent link of one span per cycle. It returns how many it cut.
func (t *Trace) breakCycles() int {
	n := len(t.Spans)
	// state: 0 unknown, 1 on the current walk, 2 reaches a root.
	if cap(t.state) < n {
		t.state = make([]uint8, n)
	}
	state := t.state[:n]
	clear(state)
	cut := 0
	var walk []int32
	for i := range n {
		if state[i] != 0 {
			continue
		}
		walk = walk[:0]
		j := int32(i)
		for j >= 0 && state[j] == 0 {
			state[j] = 1
			walk = append(walk, j)
			j = t.Parent[j]
		}
		if j >= 0 && state[j] == 1 {
			// j is on this walk: a cycle. Cut it at j.
			t.Parent[j] = -1
			cut++
		}
		for _, k := range walk {
			state[k] = 2
		}
	}
	return cut
}

func (t *Trace) buildChildren() {
	n := len(t.Spans)
	t.KidStart = resize(t.KidStart, n+1)
	clear(t.KidStart)
	for i := range n {
		if p := t.Parent[i]; p >= 0 {
			t.KidStart[p+1]++
		}
	}
	for i := 1; i <= n; i++ {
		t.KidStart[i] += t.KidStart[i-1]
	}
	t.Kids = resize(t.Kids, int(t.KidStart[n]))
	fill := t.order[:0] // reuse as a per-parent cursor; idx field only
	fill = slices.Grow(fill, n)[:n]
	for i := range n {
		fill[i].idx = t.KidStart[i]
	}
	// Spans are sorted by start, so children come out sorted by start too.
	for i := range n {
		if p := t.Parent[i]; p >= 0 {
			t.Kids[fill[p].idx] = int32(i)
			fill[p].idx++
		}
	}
	t.order = fill[:0]
}

// SelfTime returns span i's duration minus the union of its children's
// intervals clipped to it (ANALYSIS.md). It is never negative.
func (t *Trace) SelfTime(i int32) int64 {
	s := &t.Spans[i]
	covered := int64(0)
	curStart, curEnd := int64(0), int64(0)
	open := false
	for _, c := range t.Children(i) {
		cs, ce := max(t.Spans[c].Start, s.Start), min(t.Spans[c].End, s.End)
		if ce <= cs {
			continue
		}
		// Children are sorted by their own start; clipping keeps that order.
		if open && cs <= curEnd {
			curEnd = max(curEnd, ce)
			continue
		}
		if open {
			covered += curEnd - curStart
		}
		curStart, curEnd, open = cs, ce, true
	}
	if open {
		covered += curEnd - curStart
	}
	return max(s.Duration()-covered, 0)
}

func resize(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func resizeBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}
