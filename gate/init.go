package gate

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/trace-forensics/trace-forensics/compare"
	"github.com/trace-forensics/trace-forensics/snapshot"
)

// Headroom is how far above the baseline a starting budget lies at
// least: day-to-day drift is not sampling noise.
const Headroom = 1.25

// MinRequestsDefault is the starting min_requests: enough for a p95 to
// rest on 10 requests.
const MinRequestsDefault = 200

// budgetZ is the normal quantile of a budget's margin for noise: 99 %
// one-sided. With the headroom on top, budgets of 300-request baselines
// failed none of 480 same-traffic candidates (gate tests).
const budgetZ = 2.326

// Budget is a starting limit for percentile p of d in milliseconds: the
// larger of Headroom × the baseline's value and the value that a candidate
// of as many requests from the same traffic stays under but for noise of
// budgetZ standard deviations (the baseline's uncertainty and the
// candidate's both, by the order statistics' spread), rounded up to two
// significant digits. ok is false when the baseline has too few requests
// for that value (it would lie beyond its slowest request); the limit is
// then Headroom × the value alone, a suggestion. 0 when d is empty or its
// quantile is 0.
func Budget(d *snapshot.Dist, p float64) (ms float64, ok bool) {
	q := d.QuantileMs(p)
	if d.Count == 0 || q == 0 {
		return 0, false
	}
	level, fits := budgetLevel(d.Count, p)
	if !fits {
		return roundUp2(q * Headroom), false
	}
	return roundUp2(max(q*Headroom, d.QuantileMs(100*level))), true
}

// budgetLevel is the quantile level whose value a same-traffic candidate's
// percentile p stays under: p plus budgetZ standard deviations of the
// difference of two sample quantiles. fits is false when it lies beyond
// the last of n values.
func budgetLevel(n int64, p float64) (level float64, fits bool) {
	f, fn := p/100, float64(n)
	level = f + budgetZ*math.Sqrt(2*f*(1-f)/fn)
	return level, level <= 1-1/fn
}

// BudgetRequests is how many baseline requests a budget for percentile p
// needs.
func BudgetRequests(p float64) int64 {
	n := int64(10)
	for ; n < 1e9; n += max(n/100, 1) {
		if _, ok := budgetLevel(n, p); ok {
			break
		}
	}
	return roundUp2Int(n)
}

func roundUp2Int(n int64) int64 {
	mag := int64(1)
	for n/mag >= 100 {
		mag *= 10
	}
	return (n + mag - 1) / mag * mag
}

// roundUp2 rounds ms up to two significant digits, in whole microseconds.
func roundUp2(ms float64) float64 {
	us := int64(math.Ceil(ms*1000 - 1e-9))
	return float64(roundUp2Int(max(us, 1))) / 1000
}

// roundSig3 rounds ms to three significant digits, for comments.
func roundSig3(ms float64) float64 {
	if ms <= 0 {
		return 0
	}
	mag := math.Pow(10, math.Floor(math.Log10(ms))-2)
	return math.Round(ms/mag) * mag
}

// FormatDuration writes milliseconds as a Go duration a rule accepts:
// 2.3s, 17ms, 850µs.
func FormatDuration(ms float64) string {
	us := int64(math.Round(ms * 1000))
	switch {
	case us >= 1_000_000:
		return strconv.FormatFloat(float64(us)/1e6, 'f', -1, 64) + "s"
	case us >= 1000:
		return strconv.FormatFloat(float64(us)/1e3, 'f', -1, 64) + "ms"
	}
	return strconv.FormatInt(us, 10) + "µs"
}

// Init writes a starting rules file from a baseline: min_requests, the
// default regression rules, and p95 and p99 budgets with headroom for the
// request and each stage the rules name (not the service/operation stages
// of unmatched spans, which come and go with instrumentation).
func Init(base *snapshot.Snapshot, name string, alpha float64) []byte {
	if alpha == 0 {
		alpha = compare.DefaultAlpha
	}
	var b bytes.Buffer
	n := base.Requests.Latency.Count
	fmt.Fprintf(&b, "# Latency gate rules for `trace-forensics gate --baseline %s CANDIDATE --rules FILE`,\n", name)
	fmt.Fprintf(&b, "# written by `gate --init` from %s: %s.\n", name, base.Describe())
	fmt.Fprintf(&b, `#
# Budgets are the baseline's p95 and p99 with headroom: %g %% above it, or more
# where the sampling noise of a candidate of as many requests could reach that
# far, rounded up; the baseline's value is in the comment beside each. Budgets
# the baseline has too few requests to set safely are commented out.
# Regression rules fail only when the change is over the limit and
# statistically significant (Mann–Whitney U, Holm-corrected over the
# distributions they test, at alpha). A rule with "severity: warning" is
# reported and does not fail the gate.
#
`, math.Round((Headroom-1)*100))
	for _, l := range bytes.Split([]byte(Grammar), []byte("\n")) {
		fmt.Fprintf(&b, "#   %s\n", l)
	}
	fmt.Fprintf(&b, "alpha: %g\nrules:\n", alpha)
	minReq := int64(MinRequestsDefault)
	b.WriteString("  # Enough requests on both sides to judge at all.\n")
	if n < minReq {
		minReq = n
		fmt.Fprintf(&b, "  # The baseline has only %d requests; %d or more make p95 changes trustworthy.\n", n, MinRequestsDefault)
	}
	fmt.Fprintf(&b, "  - %s\n", yamlString(fmt.Sprintf("min_requests >= %d", minReq)))
	b.WriteString("  # Regressions against the baseline.\n")
	for _, t := range DefaultRuleText {
		fmt.Fprintf(&b, "  - %s\n", yamlString(t))
	}
	b.WriteString("  # Budgets.\n")
	budget := func(target string, d *snapshot.Dist) {
		for _, p := range []float64{95, 99} {
			lim, ok := Budget(d, p)
			if lim == 0 {
				continue
			}
			rule := fmt.Sprintf("%s(%s) < %s", compare.QuantileName(p), target, FormatDuration(lim))
			if ok {
				fmt.Fprintf(&b, "  - %s  # baseline %s\n", yamlString(rule), FormatDuration(roundSig3(d.QuantileMs(p))))
			} else {
				fmt.Fprintf(&b, "  # - %s  # baseline %s; needs %d+ baseline requests to hold on noise\n", yamlString(rule), FormatDuration(roundSig3(d.QuantileMs(p))), BudgetRequests(p))
			}
		}
	}
	budget("request", &base.Requests.Latency)
	for i := range base.Stages {
		st := &base.Stages[i]
		if !st.Named || st.Requests == 0 {
			continue
		}
		budget("stage="+strconv.Quote(st.Name), &st.CriticalPath)
	}
	return b.Bytes()
}
