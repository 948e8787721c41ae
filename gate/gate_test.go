package gate

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/internal/snaptest"
	"github.com/trace-forensics/trace-forensics/internal/synth"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// traffic generates snapshots of n requests for the seeds, the LLM stage
// slowed by llm (1: as generated), on all CPUs. Snapshots are cached: the
// tests over seeds share them.
func traffic(t testing.TB, n int, seeds []uint64, llm float64) []*snapshot.Snapshot {
	t.Helper()
	out := make([]*snapshot.Snapshot, len(seeds))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, s := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = cached(n, s, llm)
		}()
	}
	wg.Wait()
	return out
}

var cache sync.Map

func cached(n int, seed uint64, llm float64) *snapshot.Snapshot {
	key := fmt.Sprint(n, seed, llm)
	if s, ok := cache.Load(key); ok {
		return s.(*snapshot.Snapshot)
	}
	cfg := synth.Config{Requests: n, Seed: seed}
	if llm != 1 {
		cfg.StageFactor = map[string]float64{synth.StageLLM: llm}
	}
	s := snaptest.MustSnapshot(fmt.Sprintf("seed-%d.jsonl", seed), cfg, "")
	cache.Store(key, s)
	return s
}

func seeds(from, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(from + i)
	}
	return out
}

// Two independent samples of the same traffic pass the default rules in
// at least 95 of 100 seeds: the gate does not fail builds on noise. (With
// Holm's correction the measured rate is 100 of 100.)
func TestSameDistributionPasses(t *testing.T) {
	pairs, need := 100, 95
	if raceEnabled || testing.Short() {
		pairs, need = 20, 19
	}
	snaps := traffic(t, 300, seeds(1000, pairs+1), 1)
	passed := 0
	var failures []string
	for i := range pairs {
		v, err := Evaluate(snaps[i].Breakdown(), snaps[i+1].Breakdown(), DefaultRules(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Passed {
			passed++
			continue
		}
		for _, o := range v.Outcomes {
			if o.Status == Fail {
				c := o.Deciding()
				failures = append(failures, fmt.Sprintf("seeds %d/%d: %s: %s %+.1f%% p=%.3g", 1000+i, 1001+i, o.Rule.Text, c.Name, c.Value, *c.AdjustedP))
			}
		}
	}
	t.Logf("%d of %d pairs of same-distribution samples pass", passed, pairs)
	if passed < need {
		t.Errorf("only %d of %d pass:\n%s", passed, pairs, strings.Join(failures, "\n"))
	}
}

// A planted 20 % slowdown of the LLM stage (its p95 and every other
// quantile) fails the default rules. With 1000 requests a side it is caught
// in 99 of 100 seeds (80 of 100 with 300 a side: too few to be sure); here
// 10 seeds must all fail.
func TestPlantedRegressionFails(t *testing.T) {
	n := 10
	if raceEnabled || testing.Short() {
		n = 3
	}
	base := traffic(t, 1000, seeds(2000, n), 1)
	cand := traffic(t, 1000, seeds(3000, n), 1.2)
	for i := range base {
		v, err := Evaluate(base[i].Breakdown(), cand[i].Breakdown(), DefaultRules(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Passed {
			var why []string
			for _, o := range v.Outcomes {
				if c := o.Deciding(); c != nil && c.AdjustedP != nil {
					why = append(why, fmt.Sprintf("%s: %s %+.1f%% adjusted p=%.3g", o.Rule.Text, c.Name, c.Value, *c.AdjustedP))
				}
			}
			t.Errorf("seed %d: a 20%% LLM regression passed the gate:\n%s", i, strings.Join(why, "\n"))
			continue
		}
		// The slowdown shows where it was planted.
		llm := findCheck(v, "p95(stage=\"*\") regression < 10%", "LLM invocation")
		if llm == nil || llm.Value < 5 || !llm.Significant {
			t.Errorf("seed %d: LLM check %+v", i, llm)
		}
	}
}

func findCheck(v *Verdict, rule, name string) *Check {
	for _, o := range v.Outcomes {
		if o.Rule.Text != rule {
			continue
		}
		for i := range o.Checks {
			if o.Checks[i].Name == name {
				return &o.Checks[i]
			}
		}
	}
	return nil
}

// A regression that is significant but under the limit passes: a 10 %
// LLM slowdown over 1500 requests a side is beyond doubt, and under 25 %.
func TestSignificantRegressionUnderTheLimitPasses(t *testing.T) {
	base := traffic(t, 1500, seeds(4000, 1), 1)[0]
	cand := traffic(t, 1500, seeds(5000, 1), 1.1)[0]
	rules, err := Parse("gate.yaml", []byte(`rules: ['p95(stage="LLM invocation") regression < 25%']`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Evaluate(base.Breakdown(), cand.Breakdown(), rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := v.Outcomes[0].Checks[0]
	if !v.Passed || !c.Significant || c.Failed || c.Value < 3 || c.Value > 20 {
		t.Errorf("passed %v; check %+v (adjusted p %v)", v.Passed, c, *c.AdjustedP)
	}
	// The same change is over a 2 % limit, and fails.
	rules.Rules[0], _ = ParseRule(`p95(stage="LLM invocation") regression < 2%`)
	if v, _ := Evaluate(base.Breakdown(), cand.Breakdown(), rules, Options{}); v.Passed {
		t.Error("a significant 10% regression passed a 2% limit")
	}
}

// A regression over the limit that is not significant passes, with a note.
func TestRegressionWithoutSignificancePasses(t *testing.T) {
	snaps := traffic(t, 300, seeds(1000, 2), 1)
	rules, _ := Parse("gate.yaml", []byte(`rules: ['p95(stage="*") regression < 0%']`))
	v, err := Evaluate(snaps[0].Breakdown(), snaps[1].Breakdown(), rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, c := range v.Outcomes[0].Checks {
		if c.Note == "over the limit but not significant" {
			notes++
		}
	}
	if !v.Passed || notes == 0 || v.Family != len(v.Outcomes[0].Checks) {
		t.Errorf("passed %v, %d notes, family %d of %d checks", v.Passed, notes, v.Family, len(v.Outcomes[0].Checks))
	}
}

func TestAbsoluteShareAndMinRequests(t *testing.T) {
	snaps := traffic(t, 300, seeds(1000, 2), 1)
	base, cand := snaps[0].Breakdown(), snaps[1].Breakdown()
	var llm *snapshot.Stage
	for i := range cand.Stages {
		if cand.Stages[i].Name == synth.StageLLM {
			llm = &cand.Stages[i]
		}
	}
	p99 := llm.CriticalPath.QuantileMs(99)
	share := p99 / cand.Requests.Latency.QuantileMs(99)
	rules := &Rules{}
	for _, text := range []string{
		fmt.Sprintf(`p99(stage="LLM invocation") < %gms`, p99+1),                      // pass
		fmt.Sprintf(`p99(stage="LLM invocation") < %gms`, p99),                        // fail: not below
		fmt.Sprintf(`p99(stage="LLM invocation") <= %gms`, p99),                       // pass
		fmt.Sprintf(`share_of_request(p99, stage="LLM invocation") < %g`, share+0.01), // pass
		fmt.Sprintf(`share_of_request(p99, stage="LLM invocation") < %g`, share-0.01), // fail
		`min_requests >= 300`,             // pass
		`min_requests > 300`,              // fail
		`p95(stage="no such stage") < 1s`, // fail: a name that matches nothing
		`p95(stage="no such *") < 1s`,     // skip: a pattern that matches nothing
		`p95(operation="*") < 1h`,         // pass
	} {
		r, err := ParseRule(text)
		if err != nil {
			t.Fatal(err)
		}
		rules.Rules = append(rules.Rules, r)
	}
	rules.Rules[4].Severity = SeverityWarning
	v, err := Evaluate(base, cand, rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{Pass, Fail, Pass, Pass, Warn, Pass, Fail, Fail, Skip, Pass}
	for i, o := range v.Outcomes {
		if o.Status != want[i] {
			t.Errorf("%s: %s, want %s (%+v %s)", o.Rule.Text, o.Status, want[i], o.Checks, o.Note)
		}
	}
	if v.Passed || v.Failed != 3 {
		t.Errorf("passed %v, %d failed", v.Passed, v.Failed)
	}
	if n := v.Outcomes[7].Note; !strings.Contains(n, `no stage "no such stage" in new (there are "LLM invocation"`) {
		t.Errorf("note %q", n)
	}
	if ch := v.Outcomes[6].Deciding(); ch.Side != "baseline" && ch.Side != "candidate" || ch.Value != 300 {
		t.Errorf("min_requests check %+v", ch)
	}
	if len(v.Outcomes[9].Checks) != len(cand.Operations) {
		t.Errorf("operation=* checked %d of %d operations", len(v.Outcomes[9].Checks), len(cand.Operations))
	}
}

func TestNoBaseline(t *testing.T) {
	cand := traffic(t, 300, seeds(1000, 1), 1)[0].Breakdown()
	if _, err := Evaluate(nil, cand, DefaultRules(), Options{}); err != errNoBaseline {
		t.Errorf("default rules without a baseline: %v", err)
	}
	rules := &Rules{}
	r, _ := ParseRule(`min_requests >= 10`)
	rules.Rules = append(rules.Rules, r)
	v, err := Evaluate(nil, cand, rules, Options{})
	if err != nil || !v.Passed || v.Comparison != nil || len(v.Outcomes[0].Checks) != 1 {
		t.Errorf("%v %+v", err, v)
	}
}

// Holm's correction: the smallest of m p-values is multiplied by m, the
// next by m−1, and adjusted p-values never decrease.
func TestHolm(t *testing.T) {
	snaps := traffic(t, 300, seeds(1000, 2), 1)
	v, err := Evaluate(snaps[0].Breakdown(), snaps[1].Breakdown(), DefaultRules(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var raw, adj []float64
	seen := map[string]bool{}
	for _, o := range v.Outcomes {
		for _, c := range o.Checks {
			if c.AdjustedP == nil || seen[c.Scope+c.Name] {
				continue
			}
			seen[c.Scope+c.Name] = true
			d := v.Comparison.Find(c.Scope, c.Name)
			raw = append(raw, d.Test.Slower())
			adj = append(adj, *c.AdjustedP)
		}
	}
	m := len(raw)
	if m != v.Family || m < 10 {
		t.Fatalf("family %d, %d distinct checks", v.Family, m)
	}
	for i := range raw {
		rank := 0
		for j := range raw {
			if raw[j] < raw[i] {
				rank++
			}
		}
		if adj[i] < min(1, float64(m-rank)*raw[i])-1e-12 {
			t.Errorf("p %v ranked %d of %d adjusted to %v", raw[i], rank, m, adj[i])
		}
	}
}

func TestBudget(t *testing.T) {
	var d snapshot.Dist
	for i := range 1000 {
		d.Record(int64(i+1) * 1_000_000) // 1 ms … 1 s
	}
	// p95 is 950 ms; ×1.25 is 1187.5 ms, above the 99 % bound, rounded up.
	if got, ok := Budget(&d, 95); got != 1200 || !ok {
		t.Errorf("p95 budget %v, want 1200", got)
	}
	var few snapshot.Dist
	for i := range 50 {
		few.Record(int64(i+1) * 1_000_000)
	}
	// 50 values cannot bound p99: the budget is over the maximum.
	if got, ok := Budget(&few, 99); got < 62.5 || ok {
		t.Errorf("p99 budget of 50 values %v, want at least 1.25 × p99", got)
	}
	if got, _ := Budget(&snapshot.Dist{}, 95); got != 0 {
		t.Errorf("empty: %v", got)
	}
	for ms, want := range map[float64]string{2300: "2.3s", 17: "17ms", 0.85: "850µs", 1200: "1.2s", 61000: "61s"} {
		if got := FormatDuration(ms); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", ms, got, want)
		}
	}
	for ms, want := range map[float64]float64{1187.5: 1200, 17.01: 18, 0.851: 0.86, 100: 100, 101: 110, 9.99: 10} {
		if got := roundUp2(ms); got != want {
			t.Errorf("roundUp2(%v) = %v, want %v", ms, got, want)
		}
	}
}

// The rules gate --init writes parse, and its budgets hold for samples of
// the same traffic: none of 3 × 30 fails one (none of 480 when measured
// with 5 baselines and 96 candidates).
func TestInit(t *testing.T) {
	snaps := traffic(t, 300, seeds(1000, 33), 1)
	text := Init(snaps[0], "base.json", 0)
	rules, err := Parse("init.yaml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	var stages int
	for _, r := range rules.Rules {
		if r.Kind == Absolute && r.Scope == compare.ScopeStage {
			stages++
		}
	}
	if stages < 8 || rules.Alpha != 0.05 || rules.Rules[0].Text != "min_requests >= 200" {
		t.Errorf("%d stage budgets, alpha %v, first %q\n%s", stages, rules.Alpha, rules.Rules[0].Text, text)
	}
	if !strings.Contains(string(text), `- p95(stage="LLM invocation") < `) || !strings.Contains(string(text), "# baseline ") ||
		!strings.Contains(string(text), "  # - p99(request) < ") || !strings.Contains(string(text), "needs 1300+ baseline requests") {
		t.Errorf("init text:\n%s", text)
	}
	for b := range 3 {
		rules, _ := Parse("init.yaml", Init(snaps[b], "base.json", 0))
		for _, s := range snaps[3:] {
			v, err := Evaluate(snaps[b].Breakdown(), s.Breakdown(), rules, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range v.Outcomes {
				if o.Status == Fail && o.Rule.Kind == Absolute {
					t.Errorf("baseline %d: %s fails on the same traffic: %+v", b, o.Rule.Text, o.Deciding())
				}
			}
		}
	}
}

// TestGatePower measures the default rules over 100 seeds: false alarms on
// two samples of the same traffic, and detection of a planted 20 % LLM
// slowdown, at 300 and 1000 requests a side. It takes a minute or two:
//
//	TF_GATE_POWER=1 go test ./gate -run TestGatePower -v
func TestGatePower(t *testing.T) {
	if os.Getenv("TF_GATE_POWER") == "" {
		t.Skip("set TF_GATE_POWER=1 to measure")
	}
	for _, n := range []int{300, 1000} {
		base := traffic(t, n, seeds(1000, 101), 1)
		slow := traffic(t, n, seeds(1000, 100), 1.2)
		alarms, caught := 0, 0
		for i := range 100 {
			v, _ := Evaluate(base[i].Breakdown(), base[i+1].Breakdown(), DefaultRules(), Options{})
			if !v.Passed {
				alarms++
			}
			v, _ = Evaluate(base[i+1].Breakdown(), slow[i].Breakdown(), DefaultRules(), Options{})
			if !v.Passed {
				caught++
			}
		}
		t.Logf("%d requests a side: %d false alarms in 100 same-traffic pairs; planted 20%% LLM slowdown caught in %d of 100", n, alarms, caught)
	}
}
