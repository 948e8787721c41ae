package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// CSV writes one row for the requests and one per operation, then one per
// stage, per stage of each latency band and, with --group-by, per group's
// requests, stages and operations, for spreadsheets. Times are
// milliseconds. The first columns are those of the first version; the
// stage columns come after them.
//
// Per scope: count is spans for operations and requests with the stage for
// stages; the unprefixed quantiles are durations (for a stage, the
// wall-clock time its spans were open per request); cp_* is critical-path
// time per request.
func CSV(w io.Writer, r *analyze.Result) error {
	cw := csv.NewWriter(w)
	pct := r.Percentiles
	head := []string{"scope", "service", "operation", "count"}
	for _, p := range pct {
		head = append(head, analyze.PercentileKey(p)+"_ms")
	}
	head = append(head, "max_ms", "mean_ms")
	for _, p := range pct {
		head = append(head, "self_"+analyze.PercentileKey(p)+"_ms")
	}
	head = append(head, "self_max_ms", "self_mean_ms", "self_share", "errors", "error_rate", "exemplars")
	head = append(head, "stage", "band", "group", "requests")
	for _, p := range pct {
		head = append(head, "cp_"+analyze.PercentileKey(p)+"_ms")
	}
	head = append(head, "cp_max_ms", "cp_mean_ms", "cp_share")
	for _, p := range pct {
		head = append(head, "cp_share_of_"+analyze.PercentileKey(p))
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	blank := func(n int) []string { return make([]string, n) }
	nq := len(pct)

	type rowArgs struct {
		scope, svc, op     string
		count              int64
		d, self            *analyze.Summary
		selfShare          string
		errs               string
		errRate            string
		ex                 []string
		stage, band, group string
		requests           string
		cp                 *analyze.Summary
		cpShare            float64
		shareOf            []float64
	}
	row := func(a rowArgs) []string {
		out := []string{a.scope, a.svc, a.op, strconv.FormatInt(a.count, 10)}
		if a.d != nil {
			out = append(out, msCells(a.d)...)
		} else {
			out = append(out, blank(nq+2)...)
		}
		if a.self != nil {
			out = append(out, msCells(a.self)...)
		} else {
			out = append(out, blank(nq+2)...)
		}
		out = append(out, a.selfShare, a.errs, a.errRate, strings.Join(a.ex, " "))
		out = append(out, a.stage, a.band, a.group, a.requests)
		if a.cp != nil {
			out = append(out, msCells(a.cp)...)
			out = append(out, fraction(a.cpShare))
			for _, f := range a.shareOf {
				out = append(out, fraction(f))
			}
		} else {
			out = append(out, blank(2*nq+3)...)
		}
		return out
	}
	request := func(group string, rq *analyze.RequestStats) rowArgs {
		scope := "request"
		if group != "" {
			scope = "group_request"
		}
		return rowArgs{scope: scope, count: rq.Summary.Count, d: &rq.Summary,
			errs: strconv.FormatInt(rq.Errors, 10), errRate: fraction(rate(rq.Errors, rq.Summary.Count)),
			ex: rq.Exemplars, group: group}
	}
	operation := func(group string, o *analyze.OperationStats) rowArgs {
		scope := "operation"
		if group != "" {
			scope = "group_operation"
		}
		return rowArgs{scope: scope, svc: o.Service, op: o.Operation, count: o.Count, d: &o.Duration, self: &o.Self,
			selfShare: fraction(o.SelfShare), errs: strconv.FormatInt(o.Errors, 10), errRate: fraction(rate(o.Errors, o.Count)),
			ex: o.Exemplars, stage: o.Stage, group: group, requests: strconv.FormatInt(o.Requests, 10),
			cp: &o.CriticalPath, cpShare: o.CriticalPathShare, shareOf: o.ShareOfRequest}
	}
	stage := func(scope, band, group string, s *analyze.StageStats) rowArgs {
		a := rowArgs{scope: scope, count: s.Requests, d: &s.Duration, self: &s.Self, ex: s.Exemplars,
			stage: s.Stage, band: band, group: group, requests: strconv.FormatInt(s.Requests, 10),
			cp: &s.CriticalPath, cpShare: s.Share, shareOf: s.ShareOfRequest}
		if band != "" { // bands carry critical-path figures only
			a.d, a.self = nil, nil
		}
		return a
	}

	var rows [][]string
	rows = append(rows, row(request("", &r.Requests)))
	for i := range r.Operations {
		rows = append(rows, row(operation("", &r.Operations[i])))
	}
	for i := range r.Stages {
		rows = append(rows, row(stage("stage", "", "", &r.Stages[i])))
	}
	for _, b := range r.Bands {
		for i := range b.Stages {
			rows = append(rows, row(stage("band_stage", b.Name, "", &b.Stages[i])))
		}
	}
	for _, g := range r.Groups {
		name := g.Key + "=" + g.Value
		if g.Missing {
			name = g.Key + " missing"
		}
		rows = append(rows, row(request(name, &g.Requests)))
		for i := range g.Stages {
			rows = append(rows, row(stage("group_stage", "", name, &g.Stages[i])))
		}
		for i := range g.Operations {
			rows = append(rows, row(operation(name, &g.Operations[i])))
		}
	}
	for _, rw := range rows {
		if err := cw.Write(rw); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func fraction(f float64) string { return strconv.FormatFloat(round6(f), 'f', -1, 64) }

func msCells(s *analyze.Summary) []string {
	var out []string
	for _, q := range s.Quantiles {
		out = append(out, msNumber(q))
	}
	return append(out, msNumber(s.Max), msNumber(s.Mean))
}
