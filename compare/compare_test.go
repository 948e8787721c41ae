package compare_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/internal/snaptest"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

func ms(n int64) int64 { return n * int64(time.Millisecond) }

// dist records values in milliseconds.
func dist(vals ...int64) snapshot.Dist {
	var d snapshot.Dist
	for _, v := range vals {
		d.Record(ms(v))
	}
	return d
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v + int64(i%7)
	}
	return out
}

func TestCompareRows(t *testing.T) {
	base := &snapshot.Breakdown{
		Requests: snapshot.Requests{Latency: dist(repeat(100, 60)...)},
		Stages: []snapshot.Stage{
			{Name: "llm", Named: true, Requests: 60, CriticalPath: dist(repeat(80, 60)...)},
			{Name: "gone", Named: true, Requests: 60, CriticalPath: dist(repeat(5, 60)...)},
		},
		Operations: []snapshot.Operation{{Service: "svc", Operation: "old op", Count: 60, Duration: dist(repeat(3, 60)...)}},
	}
	cand := &snapshot.Breakdown{
		Requests: snapshot.Requests{Latency: dist(repeat(150, 60)...)},
		Stages: []snapshot.Stage{
			{Name: "llm", Named: true, Requests: 60, CriticalPath: dist(repeat(80, 60)...)},
			{Name: "new", Named: true, Requests: 60, CriticalPath: dist(repeat(50, 60)...)},
		},
		Operations: []snapshot.Operation{{Service: "svc", Operation: "new op", Count: 60, Duration: dist(repeat(3, 60)...)}},
	}
	c := compare.Compare(base, cand, compare.Options{BaseLabel: "a.json", NewLabel: "b.json"})
	var names []string
	for _, d := range c.Dists {
		names = append(names, d.Scope+":"+d.Name)
	}
	if got := strings.Join(names, " "); got != "request:request stage:llm stage:gone stage:new operation:svc/old op operation:svc/new op" {
		t.Fatalf("order %s", got)
	}
	if len(c.Rows()) != 18 {
		t.Fatalf("%d rows", len(c.Rows()))
	}
	req := c.Dists[0].Rows[1] // p95
	if req.Quantile() != "p95" || *req.BaseMs != 106 || *req.NewMs != 156 || !req.Significant || req.BaseN != 60 || req.NewN != 60 {
		t.Errorf("request p95 %+v", req)
	}
	if want := (156.0 - 106) / 106 * 100; *req.DeltaPct-want > 1e-4 || want-*req.DeltaPct > 1e-4 {
		t.Errorf("delta %v, want %v", *req.DeltaPct, want)
	}
	if llm := c.Dists[1].Rows[0]; llm.Significant || *llm.PValue != 1 || *llm.DeltaPct != 0 {
		t.Errorf("unchanged stage %+v p %v", llm, *llm.PValue)
	}
	// A stage the candidate lacks took 0 in each of its requests; one the
	// baseline lacks, 0 in each of the baseline's.
	gone, added := c.Dists[2].Rows[1], c.Dists[3].Rows[1]
	if *gone.NewMs != 0 || gone.NewN != 60 || !gone.Significant || *gone.DeltaPct != -100 {
		t.Errorf("gone %+v", gone)
	}
	if *added.BaseMs != 0 || added.BaseN != 60 || added.DeltaPct != nil || !added.Significant {
		t.Errorf("new %+v", added)
	}
	// An operation on one side only has no test.
	if op := c.Dists[4].Rows[0]; op.NewMs != nil || op.PValue != nil || op.Significant {
		t.Errorf("old op %+v", op)
	}
	warn := strings.Join(c.Warnings, "\n")
	for _, w := range []string{"only in a.json: stage gone, operation svc/old op", "only in b.json: stage new, operation svc/new op",
		"p99 rests on the 0 slowest of 60 requests in a.json"} {
		if !strings.Contains(warn, w) {
			t.Errorf("warnings lack %q:\n%s", w, warn)
		}
	}
	if strings.Contains(warn, "p50 rests") {
		t.Errorf("a median of 60 is no tail:\n%s", warn)
	}
}

// With three requests a side no change can be significant at 0.05, and
// the comparison says so.
func TestTooFewRequests(t *testing.T) {
	b := &snapshot.Breakdown{Requests: snapshot.Requests{Latency: dist(1, 2, 3)}}
	n := &snapshot.Breakdown{Requests: snapshot.Requests{Latency: dist(100, 200, 300)}}
	c := compare.Compare(b, n, compare.Options{})
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "too few requests to detect any change at α = 0.05: 3 in base, 3 in new (need 4 on each side)") {
		t.Errorf("warnings %q", c.Warnings)
	}
	if r := c.Dists[0].Rows[0]; r.Significant || fmt.Sprintf("%.6f", *r.PValue) != "0.100000" {
		t.Errorf("row %+v p %v", r, *r.PValue)
	}
}

func TestMinP(t *testing.T) {
	for _, c := range []struct {
		n1, n2 int64
		want   float64
	}{{3, 3, 0.1}, {4, 4, 2.0 / 70}, {1, 1, 1}, {0, 5, 1}} {
		if got := compare.MinP(c.n1, c.n2); fmt.Sprintf("%.6g", got) != fmt.Sprintf("%.6g", c.want) {
			t.Errorf("MinP(%d, %d) = %v, want %v", c.n1, c.n2, got, c.want)
		}
	}
	if p := compare.MinP(300, 300); p > 1e-50 {
		t.Errorf("MinP(300, 300) = %v", p)
	}
}

// One-sided: a slower candidate gets half the two-sided p, a faster one
// nearly 1.
func TestSlower(t *testing.T) {
	a, b := dist(repeat(10, 80)...), dist(repeat(12, 80)...)
	slow := compare.MannWhitney(a.Buckets(), b.Buckets())
	fast := compare.MannWhitney(b.Buckets(), a.Buckets())
	if slow.P != fast.P || slow.Slower() != slow.P/2 || fast.Slower() != 1-fast.P/2 || slow.P > 0.01 {
		t.Errorf("slow %+v → %v, fast %+v → %v", slow, slow.Slower(), fast, fast.Slower())
	}
}

// Comparing generated traffic with itself finds nothing; a planted LLM
// slowdown shows in the LLM stage and the request, not in retrieval.
func TestCompareGeneratedTraffic(t *testing.T) {
	base := snaptest.MustSnapshot("base", synth.Config{Requests: 800, Seed: 1}, "")
	slow := snaptest.MustSnapshot("slow", synth.Config{Requests: 800, Seed: 2, StageFactor: map[string]float64{synth.StageLLM: 1.3}}, "")
	self := compare.Compare(base.Breakdown(), base.Breakdown(), compare.Options{})
	for _, r := range self.Rows() {
		if r.Significant || r.DeltaPct != nil && *r.DeltaPct != 0 {
			t.Fatalf("self-comparison: %+v", r)
		}
	}
	c := compare.Compare(base.Breakdown(), slow.Breakdown(), compare.Options{})
	for name, want := range map[string]bool{"request": true, synth.StageLLM: true, synth.StageRetrieval: false} {
		scope := compare.ScopeStage
		if name == "request" {
			scope = compare.ScopeRequest
		}
		d := c.Find(scope, name)
		if d == nil {
			t.Fatalf("no %s", name)
		}
		r := d.Rows[1]
		if r.Significant != want || want && *r.DeltaPct < 15 {
			t.Errorf("%s p95: %+v (delta %v, p %v)", name, r, *r.DeltaPct, *r.PValue)
		}
	}
}
