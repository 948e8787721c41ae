// Package analyze is the middle of the pipeline (sources → analyze →
// report): it takes the spans a reader produced and returns result values.
// It has no flags, writers or clocks; every number a report prints is a
// field of Result (or of Explanation, for one trace).
//
// # Definitions
//
// Per span: duration (end − start); self time (duration minus the union of
// the children's intervals clipped to the span, never negative); and
// critical-path time, the part of the request's end-to-end latency during
// which the span was the one being waited on. Summed over a trace's spans,
// critical-path time equals the root's duration.
//
// The critical path (critpath.go) is computed backwards from the root's end,
// as time slices per span (Jaeger UI's model), with CRISP's rules: only
// blocking children count (FOLLOWS_FROM children, consumers of a producer
// and spans that only link to the trace are off the path); children sticking
// out of their parent by at most 1 % of its duration are shifted inside as
// clock skew, others are clipped, and those wholly outside are dropped from
// the path (they keep their own statistics); walking back, a sibling that
// overlaps the next path child by at most 1 % of the parent's duration is
// taken as skew (it keeps its length, the parent's own time pays), unless it
// started after that child. Every adjustment is a counted warning. All of
// CRISP's golden cases give CRISP's answers (crisp_test.go).
//
// Before that, Jaeger's clock-skew adjustment (skew.go) centres a child that
// ran on another host and does not fit its parent inside it, capped by
// Options.MaxClockSkew (1 s by default). A span's host is its host.name or
// host.id resource attribute when kept, else its service.
//
// Stages (stages.go, stages.yaml) map spans to named steps of a request by
// ordered rules on service, span name, kind and kept attributes; spans no
// rule matches form a stage named service/operation. A stage's figures are
// per request, over all counted requests (0 where it does not occur):
// critical-path time of its spans, their summed self time, the wall-clock
// time some span of the stage was open (its inclusive time), and the number
// of its spans. An operation's critical-path time is likewise per request,
// the sum over its spans, as CRISP reports it.
//
// Shares: a figure's share of the end-to-end latency is its total over all
// requests divided by the requests' total latency, so stage shares add up to
// 1. Its share at a percentile is its quantile over the requests' quantile
// at that percentile ("LLM invocation: 71 % of p50, 83 % of p99"); those do
// not add up.
//
// Tail anatomy (bands.go): the requests are put in bands by end-to-end
// latency (p0–p50, p50–p95, p95–p99, p99+) and the stage shares computed
// per band, from a compact per-request record (8 bytes per stage), so no
// histogram per band and stage exists during the pass.
//
// Coverage: a parent span's own time on the critical path is untraced time,
// work no child span explains. It is reported per parent operation, with
// the pair of children it mostly lies between, and per stage; stages the
// rules name that no span fell in are missing.
//
// Distributions (dist.go) are HDR histograms (1 µs to 1 h, 3 significant
// digits) with exact count, sum, min and max beside them. A Dist keeps its
// first values exactly, in chunks that never move, and builds its 188 KB
// histogram only when they outgrow it; quantiles are the same either way.
package analyze
