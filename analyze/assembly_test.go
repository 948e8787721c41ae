package analyze

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/sources"
)

const ms = int64(1_000_000)

// tb builds one trace by hand: tb.span(id, parent, start, end).
type tb struct{ t Trace }

func (b *tb) span(id, parent uint64, start, end int64) *tb {
	b.t.Spans = append(b.t.Spans, model.Span{Trace: model.TraceID{1}, ID: model.SpanID(id), Parent: model.SpanID(parent), Start: start, End: end})
	return b
}

func (b *tb) build() (*Trace, traceIssues) {
	is := b.t.assemble()
	return &b.t, is
}

func selfOf(t *Trace, id uint64) int64 {
	for i, s := range t.Spans {
		if s.ID == model.SpanID(id) {
			return t.SelfTime(int32(i))
		}
	}
	panic("no such span")
}

func TestSelfTimeNonOverlappingChildren(t *testing.T) {
	// ANALYSIS.md: a 10 ms span with two non-overlapping 4 ms children has 2 ms self time.
	tr, _ := (&tb{}).span(1, 0, 0, 10*ms).span(2, 1, 1*ms, 5*ms).span(3, 1, 5*ms, 9*ms).build()
	if got := selfOf(tr, 1); got != 2*ms {
		t.Errorf("self %d, want %d", got, 2*ms)
	}
}

func TestSelfTimeOverlappingChildren(t *testing.T) {
	// Two fully overlapping 4 ms children leave 6 ms.
	tr, _ := (&tb{}).span(1, 0, 0, 10*ms).span(2, 1, 2*ms, 6*ms).span(3, 1, 2*ms, 6*ms).build()
	if got := selfOf(tr, 1); got != 6*ms {
		t.Errorf("self %d, want %d", got, 6*ms)
	}
	// Partly overlapping: [1,5] ∪ [3,8] = 7 ms covered.
	tr, _ = (&tb{}).span(1, 0, 0, 10*ms).span(2, 1, 1*ms, 5*ms).span(3, 1, 3*ms, 8*ms).build()
	if got := selfOf(tr, 1); got != 3*ms {
		t.Errorf("self %d, want %d", got, 3*ms)
	}
}

func TestSelfTimeClipsChildren(t *testing.T) {
	// A child sticking out on both sides covers the parent entirely; one
	// starting after the parent ends adds nothing; self is never negative.
	tr, _ := (&tb{}).span(1, 0, 0, 10*ms).span(2, 1, -5*ms, 4*ms).span(3, 1, 8*ms, 20*ms).span(4, 1, 11*ms, 12*ms).build()
	if got := selfOf(tr, 1); got != 4*ms {
		t.Errorf("self %d, want %d", got, 4*ms)
	}
	tr, _ = (&tb{}).span(1, 0, 0, 10*ms).span(2, 1, -1*ms, 11*ms).build()
	if got := selfOf(tr, 1); got != 0 {
		t.Errorf("covered parent: self %d, want 0", got)
	}
}

func TestSelfTimeZeroDurationAndZeroTimestamps(t *testing.T) {
	tr, _ := (&tb{}).span(1, 0, 0, 0).span(2, 1, 0, 0).build()
	if got := selfOf(tr, 1); got != 0 {
		t.Errorf("self %d", got)
	}
}

func TestAssemblyOrphansDuplicatesRoots(t *testing.T) {
	tr, is := (&tb{}).
		span(1, 0, 0, 10*ms).
		span(2, 1, 1*ms, 2*ms).
		span(2, 1, 3*ms, 4*ms).  // duplicate ID: dropped
		span(3, 99, 5*ms, 6*ms). // orphan
		span(4, 0, 0, 20*ms).    // second root, longer: the request
		build()
	if is.duplicates != 1 || is.orphans != 1 || !is.multipleRoots || is.noRoot {
		t.Errorf("issues %+v", is)
	}
	if len(tr.Spans) != 4 {
		t.Errorf("%d spans after dropping the duplicate", len(tr.Spans))
	}
	if tr.Spans[tr.Root].ID != 4 {
		t.Errorf("request root %d, want the longest root 4", tr.Spans[tr.Root].ID)
	}
}

func TestAssemblyCycle(t *testing.T) {
	tr, is := (&tb{}).span(1, 3, 0, 10*ms).span(2, 1, 1*ms, 9*ms).span(3, 2, 2*ms, 8*ms).build()
	if is.cycles != 1 || !is.noRoot {
		t.Errorf("issues %+v", is)
	}
	// Every span is reachable from a span without a parent link.
	roots := 0
	for i := range tr.Spans {
		if tr.Parent[i] < 0 {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("%d tree roots after cutting the cycle", roots)
	}
	// Self-parent.
	_, is = (&tb{}).span(1, 1, 0, 10*ms).build()
	if is.cycles != 1 {
		t.Errorf("self-parent: %+v", is)
	}
}

func TestAssemblyDeepAndWide(t *testing.T) {
	// 200,000 levels deep and 200,000 wide: no recursion, no quadratic scan.
	b := &tb{}
	n := uint64(200_000)
	for i := uint64(1); i <= n; i++ {
		b.span(i, i-1, int64(i), 2*int64(n)-int64(i))
	}
	tr, is := b.build()
	if is != (traceIssues{}) || tr.Spans[tr.Root].ID != 1 {
		t.Fatalf("deep: %+v", is)
	}
	if got := selfOf(tr, 1); got != 2 {
		t.Errorf("deep self %d", got)
	}
	w := (&tb{}).span(1, 0, 0, int64(n)+10)
	for i := uint64(2); i <= n; i++ {
		w.span(i, 1, int64(i), int64(i)+1)
	}
	tr, _ = w.build()
	if got := selfOf(tr, 1); got != int64(n)+10-(int64(n)-1) {
		t.Errorf("wide self %d", got)
	}
}

// Self times over a trace add up to the root's duration when children nest
// without overlap: a property check over random sequential trees.
func TestSelfTimesSumToRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := &tb{}
		next := uint64(1)
		// Build a chain of sequential children under each span.
		type node struct {
			id   uint64
			s, e int64
		}
		queue := []node{{1, 0, 1000}}
		b.span(1, 0, 0, 1000)
		for len(queue) > 0 && next < 60 {
			p := queue[0]
			queue = queue[1:]
			cur := p.s
			for k := 0; k < rng.IntN(4) && next < 60; k++ {
				gap := rng.Int64N(20)
				length := rng.Int64N((p.e-cur)/2 + 1)
				if cur+gap+length > p.e {
					break
				}
				next++
				b.span(next, p.id, cur+gap, cur+gap+length)
				queue = append(queue, node{next, cur + gap, cur + gap + length})
				cur += gap + length
			}
		}
		tr, _ := b.build()
		var sum int64
		for i := range tr.Spans {
			sum += tr.SelfTime(int32(i))
		}
		if sum != 1000 {
			t.Fatalf("self times sum to %d, want the root's 1000", sum)
		}
	}
}

func TestDistQuantilesWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var d Dist
	var vals []int64
	for range 100_000 {
		v := int64(math.Exp(rng.NormFloat64()+13)) + 1 // lognormal around 0.4 ms
		d.Record(v)
		vals = append(vals, (v+500)/1000*1000)
	}
	slices.Sort(vals)
	for _, q := range []float64{50, 90, 95, 99, 99.9} {
		exact := vals[rank(q, len(vals))]
		got := d.QuantileNs(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.001 {
			t.Errorf("p%v = %d, exact %d: %.4f%% off", q, got, exact, rel*100)
		}
	}
	if d.MaxNs != slices.Max(vals) && math.Abs(float64(d.MaxNs-vals[len(vals)-1])) > 500 {
		t.Errorf("max %d", d.MaxNs)
	}
}

func TestDistMergeIsExact(t *testing.T) {
	var a, b, all Dist
	for i := int64(1); i <= 1000; i++ {
		v := i * 7919 % 100_000 * 1000
		all.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{50, 95, 99} {
		if a.QuantileNs(q) != all.QuantileNs(q) {
			t.Errorf("p%v: merged %d, whole %d", q, a.QuantileNs(q), all.QuantileNs(q))
		}
	}
	if a.Count != all.Count || a.SumNs != all.SumNs || a.MaxNs != all.MaxNs || a.MinNs != all.MinNs {
		t.Error("exact figures differ after merge")
	}
}

func TestPercentileKey(t *testing.T) {
	for p, want := range map[float64]string{50: "p50", 99.9: "p99.9", 95: "p95", 99.99: "p99.99"} {
		if got := PercentileKey(p); got != want {
			t.Errorf("%v: %q", p, got)
		}
	}
}

// On generated traffic, the breakdown's request percentiles match the
// generator's own root durations, and every operation is counted once per span.
func TestAnalyzeGeneratedTraffic(t *testing.T) {
	var buf strings.Builder
	cfg := synth.Config{Requests: 500, Seed: 11}
	if _, err := synth.WriteJSONL(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	g := synth.New(cfg)
	var roots []int64
	spans := 0
	for range cfg.Requests {
		tr := g.Next()
		spans += len(tr)
		roots = append(roots, (tr[0].End-tr[0].Start+500)/1000*1000)
	}
	slices.Sort(roots)
	ds, err := sources.LoadReader(context.Background(), "gen", strings.NewReader(buf.String()), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Analyze(ds, Options{Percentiles: []float64{50, 99}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.Summary.Count != int64(cfg.Requests) || res.Spans != spans || res.Traces != cfg.Requests {
		t.Fatalf("counts: %+v spans %d", res.Requests.Summary, res.Spans)
	}
	for i, q := range []float64{50, 99} {
		exact := float64(roots[rank(q, len(roots))]) / 1e6
		if got := res.Requests.Summary.Quantiles[i]; math.Abs(got-exact)/exact > 0.001 {
			t.Errorf("p%v: %v ms, exact %v ms", q, got, exact)
		}
	}
	var counted int64
	for _, o := range res.Operations {
		counted += o.Count
	}
	if counted != int64(spans) {
		t.Errorf("operations count %d spans, want %d", counted, spans)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("clean traffic gave warnings: %v", res.Warnings)
	}
}

// rank is the 0-based index of quantile q (0..100) among n sorted values:
// the smallest value with at least q% of the values at or below it.
func rank(q float64, n int) int {
	return int(math.Ceil(q/100*float64(n)-1e-9)) - 1
}

func TestGapKeyPacking(t *testing.T) {
	for _, k := range []gapKey{{0, -1, -1}, {5, 3, -1}, {1<<gapBits - 3, 1<<gapBits - 3, 0}} {
		p, ok := k.pack()
		if !ok || unpackGap(p) != k {
			t.Errorf("%+v: packed %x ok %v, back %+v", k, p, ok, unpackGap(p))
		}
	}
	if _, ok := (gapKey{1<<gapBits - 2, 0, 0}).pack(); ok {
		t.Error("an operation index too large to pack was packed")
	}
}
