package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// requestsMarkdown writes the end-to-end latency of the requests.
func requestsMarkdown(w io.Writer, r *analyze.Result) {
	fmt.Fprintln(w, "### End-to-end latency of requests")
	fmt.Fprintln(w)
	head := append([]string{"requests"}, pctHeaders("", r.Percentiles)...)
	head = append(head, "max", "mean", "errors")
	row := append([]string{strconv.FormatInt(r.Requests.Summary.Count, 10)}, durations(r.Requests.Summary)...)
	row = append(row, Duration(r.Requests.Summary.Max), Duration(r.Requests.Summary.Mean),
		errorCell(r.Requests.Errors, r.Requests.Summary.Count))
	mdTable(w, head, [][]string{row}, 0)
}

// markdownWarnings writes the data-quality table.
func markdownWarnings(w io.Writer, r *analyze.Result) {
	if len(r.Warnings) == 0 {
		return
	}
	fmt.Fprintln(w, "\n### Data quality")
	fmt.Fprintln(w)
	var rows [][]string
	for _, wc := range r.Warnings {
		rows = append(rows, []string{wc.Kind, strconv.Itoa(wc.Count), wc.Example})
	}
	mdTable(w, []string{"warning", "count", "example"}, rows, 1)
}

// MarkdownByOperation writes the breakdown by operation as GitHub-flavoured
// Markdown tables, ready to paste into a postmortem or a pull request.
func MarkdownByOperation(w io.Writer, r *analyze.Result) error {
	fmt.Fprintf(w, "## Latency breakdown\n\n%s.\n\n", headline(r))
	requestsMarkdown(w, r)
	fmt.Fprintln(w, "\n### Operations, sorted by share of total self time")
	fmt.Fprintln(w)
	head, rows := operationRows(r)
	head = append(head, "slowest trace")
	for i, o := range r.Operations {
		ex := ""
		if len(o.Exemplars) > 0 {
			ex = "`" + o.Exemplars[0] + "`"
		}
		rows[i] = append(rows[i], ex)
	}
	mdTable(w, head, rows, 2)
	if len(r.Requests.Exemplars) > 0 {
		fmt.Fprintf(w, "\nSlowest requests: `%s`\n", strings.Join(r.Requests.Exemplars, "`, `"))
	}
	markdownWarnings(w, r)
	return nil
}

// mdTable writes a Markdown table; columns from firstNumeric on are right-aligned.
func mdTable(w io.Writer, head []string, rows [][]string, firstNumeric int) {
	line := func(cells []string) {
		for i, c := range cells {
			cells[i] = mdEscape(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	line(append([]string(nil), head...))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
		if i >= firstNumeric {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range rows {
		line(append([]string(nil), r...))
	}
}

// mdEscape keeps names from breaking the table or being read as markup.
func mdEscape(s string) string {
	if strings.HasPrefix(s, "`") && strings.HasSuffix(s, "`") {
		return s
	}
	r := strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;", "`", "\\`")
	return r.Replace(s)
}
