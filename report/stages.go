package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// The breakdown has two views: by stage (the default: where the requests'
// latency went, step by step) and by operation. Both are built from the
// same Result; JSON and CSV always carry both.
const (
	ByStage     = "stage"
	ByOperation = "operation"
)

// ByNames lists the views in the order help texts show them.
var ByNames = []string{ByStage, ByOperation}

// Renderers returns the renderer of format for a view.
func Renderers(format, by string) (Renderer, bool) {
	if by == ByOperation {
		switch format {
		case "table":
			return TableByOperation, true
		case "markdown":
			return MarkdownByOperation, true
		}
	}
	r, ok := Formats[format]
	return r, ok
}

// stageTable is the rows of a stage breakdown: share of the end-to-end
// latency, share at each percentile, critical-path percentiles, self and
// inclusive time at the first and last percentile, spans per request.
func stageTable(r *analyze.Result, stages []analyze.StageStats) ([]string, [][]string) {
	pct := r.Percentiles
	head := []string{"stage", "share"}
	for _, p := range pct {
		head = append(head, "of "+analyze.PercentileKey(p))
	}
	head = append(head, pctHeaders("path ", pct)...)
	ends := endPercentiles(pct)
	for _, i := range ends {
		head = append(head, "self "+analyze.PercentileKey(pct[i]))
	}
	for _, i := range ends {
		head = append(head, "incl. "+analyze.PercentileKey(pct[i]))
	}
	head = append(head, "spans/req")
	var rows [][]string
	for _, s := range stages {
		row := []string{stageName(s), Percent(s.Share)}
		for _, f := range s.ShareOfRequest {
			row = append(row, Percent(f))
		}
		row = append(row, durations(s.CriticalPath)...)
		for _, i := range ends {
			row = append(row, Duration(s.Self.Quantiles[i]))
		}
		for _, i := range ends {
			row = append(row, Duration(s.Duration.Quantiles[i]))
		}
		row = append(row, strconv.FormatFloat(s.CountMean, 'f', 1, 64))
		rows = append(rows, row)
	}
	return head, rows
}

// shownStages are the stage rows of the text views: the largest
// analyze.MaxSideStages (as in bands and groups), and a line that says how
// many more there are and what they add up to.
func shownStages(r *analyze.Result) ([]analyze.StageStats, string) {
	if len(r.Stages) <= analyze.MaxSideStages {
		return r.Stages, ""
	}
	shown := r.Stages[:analyze.MaxSideStages]
	rest := len(r.Stages) - len(shown)
	share := 0.0
	for _, s := range r.Stages[len(shown):] {
		share += s.Share
	}
	return shown, fmt.Sprintf("… and %d more stages with %s of the latency together (--format json lists them all).", rest, Percent(share))
}

// endPercentiles are the indexes of the first and last percentile.
func endPercentiles(pct []float64) []int {
	if len(pct) == 1 {
		return []int{0}
	}
	return []int{0, len(pct) - 1}
}

// stageName marks the stages of unmatched spans, which are named
// service/operation, so they are not read as rules' stages.
func stageName(s analyze.StageStats) string {
	if s.Named {
		return s.Stage
	}
	return s.Stage + " (no rule)"
}

// bandTable is the tail anatomy: each stage's share of the latency of the
// requests in each band.
func bandTable(r *analyze.Result) ([]string, [][]string) {
	head := []string{"stage"}
	for _, b := range r.Bands {
		head = append(head, b.Name)
	}
	reqs := []string{"requests"}
	lat := []string{"latency"}
	for _, b := range r.Bands {
		reqs = append(reqs, strconv.FormatInt(b.Requests.Count, 10))
		lat = append(lat, bandRange(b))
	}
	rows := [][]string{reqs, lat}
	for i, s := range r.Bands[0].Stages { // every band has the same rows
		row := []string{stageName(s)}
		for _, b := range r.Bands {
			row = append(row, Percent(b.Stages[i].Share))
		}
		rows = append(rows, row)
	}
	unt := []string{"of which untraced"}
	for _, b := range r.Bands {
		unt = append(unt, Percent(b.UntracedShare))
	}
	return head, append(rows, unt)
}

func bandRange(b analyze.BandStats) string {
	if b.Requests.Count == 0 {
		return "-"
	}
	return Duration(b.Requests.Min) + "–" + Duration(b.Requests.Max)
}

// tailNote names the stage whose share grows most from the first band to
// the last: what makes slow requests slow.
func tailNote(r *analyze.Result) string {
	if len(r.Bands) < 2 {
		return ""
	}
	first, last := r.Bands[0], r.Bands[len(r.Bands)-1]
	if first.Requests.Count == 0 || last.Requests.Count == 0 {
		return ""
	}
	best, grow := -1, 0.0
	for i := range first.Stages {
		if g := last.Stages[i].Share - first.Stages[i].Share; g > grow {
			best, grow = i, g
		}
	}
	if best < 0 || grow < 0.005 {
		return ""
	}
	return fmt.Sprintf("From the %s band to the %s band, %s grows from %s to %s of the latency.",
		first.Name, last.Name, first.Stages[best].Stage, Percent(first.Stages[best].Share), Percent(last.Stages[best].Share))
}

// groupTables are the requests per group and the stages side by side.
func groupTables(r *analyze.Result) (head1 []string, rows1 [][]string, head2 []string, rows2 [][]string) {
	head1 = append([]string{r.GroupBy, "requests"}, pctHeaders("", r.Percentiles)...)
	head1 = append(head1, "max", "errors")
	for _, g := range r.Groups {
		row := []string{groupValue(g), strconv.FormatInt(g.Requests.Summary.Count, 10)}
		row = append(row, durations(g.Requests.Summary)...)
		row = append(row, Duration(g.Requests.Summary.Max), errorCell(g.Requests.Errors, g.Requests.Summary.Count))
		rows1 = append(rows1, row)
	}
	last := len(r.Percentiles) - 1
	head2 = []string{"stage"}
	for _, g := range r.Groups {
		v := groupValue(g)
		head2 = append(head2, v+" share", v+" path "+analyze.PercentileKey(r.Percentiles[0]))
		if last > 0 {
			head2 = append(head2, v+" path "+analyze.PercentileKey(r.Percentiles[last]))
		}
	}
	for i, s := range r.Groups[0].Stages { // every group has the same rows
		row := []string{stageName(s)}
		for _, g := range r.Groups {
			gs := g.Stages[i]
			row = append(row, Percent(gs.Share), Duration(gs.CriticalPath.Quantiles[0]))
			if last > 0 {
				row = append(row, Duration(gs.CriticalPath.Quantiles[last]))
			}
		}
		rows2 = append(rows2, row)
	}
	return
}

func groupValue(g analyze.GroupStats) string {
	if g.Missing {
		return "(no " + g.Key + ")"
	}
	return g.Value
}

// skewLines lists the clock-skew adjustments per service.
func skewLines(r *analyze.Result) []string {
	var out []string
	for _, s := range r.ClockSkew {
		line := fmt.Sprintf("  %-24s %6d spans shifted", s.Service, s.Adjusted)
		if s.Adjusted > 0 {
			line += fmt.Sprintf(" (up to %s)", Duration(float64(s.MaxShiftNs)/1e6))
		}
		if s.Exceeded > 0 {
			line += fmt.Sprintf(", %d over the maximum left as recorded", s.Exceeded)
		}
		out = append(out, line)
	}
	return out
}

// untracedNote says how much of the latency no child span explains.
func untracedNote(r *analyze.Result) string {
	if r.Requests.Summary.Count == 0 {
		return ""
	}
	return fmt.Sprintf("Untraced: %s of the latency is time inside parent spans that no child span covers (trace-forensics coverage says where).",
		Percent(r.Coverage.UntracedShare))
}

// Table writes the breakdown for a terminal, by stage: the requests'
// latency, where it went stage by stage, the tail anatomy, the groups.
func Table(w io.Writer, r *analyze.Result) error {
	fmt.Fprintf(w, "%s\n\n", headline(r))
	if err := requestsTable(w, r); err != nil {
		return err
	}
	if r.Requests.Summary.Count == 0 {
		fmt.Fprintln(w, "\nNo request counted: no stage breakdown.")
		writeWarningsText(w, r)
		return nil
	}
	fmt.Fprintf(w, "\nWhere the time went: stages on the critical path (%d stages; share = of the end-to-end latency, \"of p99\" = the stage's p99 over the requests' p99)\n", len(r.Stages))
	shown, more := shownStages(r)
	head, rows := stageTable(r, shown)
	if err := renderTable(w, head, rows, 1); err != nil {
		return err
	}
	if more != "" {
		fmt.Fprintln(w, more)
	}
	if len(r.Bands) > 0 {
		fmt.Fprintln(w, "\nTail anatomy: share of the latency per stage, requests by end-to-end latency band")
		head, rows := bandTable(r)
		if err := renderTable(w, head, rows, 1); err != nil {
			return err
		}
		if note := tailNote(r); note != "" {
			fmt.Fprintln(w, note)
		}
	}
	if len(r.Groups) > 0 {
		h1, r1, h2, r2 := groupTables(r)
		fmt.Fprintf(w, "\nRequests by %s\n", r.GroupBy)
		if err := renderTable(w, h1, r1, 1); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nStages by %s\n", r.GroupBy)
		if err := renderTable(w, h2, r2, 1); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, untracedNote(r))
	if len(r.Requests.Exemplars) > 0 {
		fmt.Fprintf(w, "\nSlowest requests: %s\n", joinIDs(r.Requests.Exemplars))
	}
	if lines := skewLines(r); len(lines) > 0 {
		fmt.Fprintf(w, "\nClock skew adjusted (max %s)\n%s\n", Duration(float64(r.MaxClockSkewNs)/1e6), strings.Join(lines, "\n"))
	}
	writeWarningsText(w, r)
	return nil
}

// Markdown writes the breakdown by stage as GitHub-flavoured Markdown.
func Markdown(w io.Writer, r *analyze.Result) error {
	fmt.Fprintf(w, "## Latency breakdown\n\n%s.\n\n", headline(r))
	requestsMarkdown(w, r)
	if r.Requests.Summary.Count > 0 {
		fmt.Fprintln(w, "\n### Where the time went: stages on the critical path")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Share is of the end-to-end latency; \"of p99\" is the stage's p99 over the requests' p99.")
		fmt.Fprintln(w)
		shown, more := shownStages(r)
		head, rows := stageTable(r, shown)
		mdTable(w, head, rows, 1)
		if more != "" {
			fmt.Fprintf(w, "\n%s\n", more)
		}
		if len(r.Bands) > 0 {
			fmt.Fprintln(w, "\n### Tail anatomy: share of the latency per stage, by latency band")
			fmt.Fprintln(w)
			head, rows := bandTable(r)
			mdTable(w, head, rows, 1)
			if note := tailNote(r); note != "" {
				fmt.Fprintf(w, "\n%s\n", note)
			}
		}
		if len(r.Groups) > 0 {
			h1, r1, h2, r2 := groupTables(r)
			fmt.Fprintf(w, "\n### Requests by `%s`\n\n", r.GroupBy)
			mdTable(w, h1, r1, 1)
			fmt.Fprintf(w, "\n### Stages by `%s`\n\n", r.GroupBy)
			mdTable(w, h2, r2, 1)
		}
		fmt.Fprintf(w, "\n%s\n", untracedNote(r))
	}
	if len(r.Requests.Exemplars) > 0 {
		fmt.Fprintf(w, "\nSlowest requests: `%s`\n", strings.Join(r.Requests.Exemplars, "`, `"))
	}
	if lines := skewLines(r); len(lines) > 0 {
		fmt.Fprintf(w, "\nClock skew adjusted (max %s):\n\n```\n%s\n```\n", Duration(float64(r.MaxClockSkewNs)/1e6), strings.Join(lines, "\n"))
	}
	markdownWarnings(w, r)
	return nil
}
