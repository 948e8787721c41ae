package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// requestsTable writes the end-to-end latency of the requests.
func requestsTable(w io.Writer, r *analyze.Result) error {
	fmt.Fprintln(w, "End-to-end latency of requests (root spans)")
	head := append([]string{"requests"}, pctHeaders("", r.Percentiles)...)
	head = append(head, "max", "mean", "errors")
	row := append([]string{strconv.FormatInt(r.Requests.Summary.Count, 10)}, durations(r.Requests.Summary)...)
	row = append(row, Duration(r.Requests.Summary.Max), Duration(r.Requests.Summary.Mean),
		errorCell(r.Requests.Errors, r.Requests.Summary.Count))
	return renderTable(w, head, [][]string{row}, 0)
}

// TableByOperation writes the breakdown as text tables for a terminal: the
// requests first, then the operations sorted by their share of total self
// time, with their critical-path time per request.
func TableByOperation(w io.Writer, r *analyze.Result) error {
	fmt.Fprintf(w, "%s\n\n", headline(r))
	if err := requestsTable(w, r); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nOperations, sorted by share of total self time (%d operations; path = critical-path time per request)\n", len(r.Operations))
	head, rows := operationRows(r)
	if err := renderTable(w, head, rows, 2); err != nil {
		return err
	}
	if len(r.Requests.Exemplars) > 0 {
		fmt.Fprintf(w, "\nSlowest requests: %s\n", joinIDs(r.Requests.Exemplars))
	}
	writeWarningsText(w, r)
	return nil
}

// operationRows are the operation table's head and rows.
func operationRows(r *analyze.Result) ([]string, [][]string) {
	head := []string{"service", "operation", "count", "self share", "path share"}
	head = append(head, pctHeaders("self ", r.Percentiles)...)
	head = append(head, pctHeaders("", r.Percentiles)...)
	head = append(head, pctHeaders("path ", r.Percentiles)...)
	head = append(head, "max", "errors")
	var rows [][]string
	for _, o := range r.Operations {
		row := []string{o.Service, o.Operation, strconv.FormatInt(o.Count, 10), Percent(o.SelfShare), Percent(o.CriticalPathShare)}
		row = append(row, durations(o.Self)...)
		row = append(row, durations(o.Duration)...)
		row = append(row, durations(o.CriticalPath)...)
		row = append(row, Duration(o.Duration.Max), errorCell(o.Errors, o.Count))
		rows = append(rows, row)
	}
	return head, rows
}

// renderTable draws one table; columns from firstNumeric on are right-aligned.
func renderTable(w io.Writer, head []string, rows [][]string, firstNumeric int) error {
	align := make([]tw.Align, len(head))
	for i := range align {
		align[i] = tw.AlignLeft
		if i >= firstNumeric {
			align[i] = tw.AlignRight
		}
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	t.Header(head)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

func headline(r *analyze.Result) string {
	s := fmt.Sprintf("%d requests, %d traces, %d spans", r.Requests.Summary.Count, r.Traces, r.Spans)
	if r.Traces != r.TracesRead {
		s += fmt.Sprintf(" (%d traces read, %d filtered out)", r.TracesRead, r.TracesRead-r.Traces)
	}
	if !r.WindowStart.IsZero() {
		s += fmt.Sprintf("; requests started %s … %s", r.WindowStart.Format("2006-01-02 15:04:05Z07:00"), r.WindowEnd.Format("2006-01-02 15:04:05Z07:00"))
	}
	return s
}

func errorCell(n, of int64) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", n, Percent(float64(n)/float64(of)))
}

func joinIDs(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += id
	}
	return s
}

func writeWarningsText(w io.Writer, r *analyze.Result) {
	if len(r.Warnings) == 0 {
		return
	}
	fmt.Fprintln(w, "\nData quality")
	for _, wc := range r.Warnings {
		fmt.Fprintf(w, "  %-18s %6d  e.g. %s\n", wc.Kind, wc.Count, wc.Example)
	}
}
