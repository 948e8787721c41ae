package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// CSV writes one row for the requests and one per operation, for
// spreadsheets. Times are milliseconds.
func CSV(w io.Writer, r *analyze.Result) error {
	cw := csv.NewWriter(w)
	head := []string{"scope", "service", "operation", "count"}
	for _, p := range r.Percentiles {
		head = append(head, analyze.PercentileKey(p)+"_ms")
	}
	head = append(head, "max_ms", "mean_ms")
	for _, p := range r.Percentiles {
		head = append(head, "self_"+analyze.PercentileKey(p)+"_ms")
	}
	head = append(head, "self_max_ms", "self_mean_ms", "self_share", "errors", "error_rate", "exemplars")
	if err := cw.Write(head); err != nil {
		return err
	}
	row := func(scope, svc, op string, count int64, d, self *analyze.Summary, share float64, errs int64, ex []string) []string {
		out := []string{scope, svc, op, strconv.FormatInt(count, 10)}
		out = append(out, msCells(d)...)
		if self != nil {
			out = append(out, msCells(self)...)
			out = append(out, strconv.FormatFloat(round6(share), 'f', -1, 64))
		} else {
			out = append(out, make([]string, len(d.Quantiles)+3)...)
		}
		out = append(out, strconv.FormatInt(errs, 10), strconv.FormatFloat(rate(errs, count), 'f', -1, 64))
		ids := ""
		for i, e := range ex {
			if i > 0 {
				ids += " "
			}
			ids += e
		}
		return append(out, ids)
	}
	rq := r.Requests
	if err := cw.Write(row("request", "", "", rq.Summary.Count, &rq.Summary, nil, 0, rq.Errors, rq.Exemplars)); err != nil {
		return err
	}
	for _, o := range r.Operations {
		if err := cw.Write(row("operation", o.Service, o.Operation, o.Count, &o.Duration, &o.Self, o.SelfShare, o.Errors, o.Exemplars)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func msCells(s *analyze.Summary) []string {
	var out []string
	for _, q := range s.Quantiles {
		out = append(out, msNumber(q))
	}
	return append(out, msNumber(s.Max), msNumber(s.Mean))
}
