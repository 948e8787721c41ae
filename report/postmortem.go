package report

import (
	"cmp"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// The postmortem report (Markdown and HTML) is built in two steps: the
// result becomes a document (summary sentences, sections of tables and
// charts), which each format then writes. Both formats show the same
// numbers because they read the same document, which reads only the
// result.
//
// The renderers trust the result's names: cmd redacts the result
// (package redact) before it gets here.

// PostmortemOptions are what a postmortem shows beyond the result.
type PostmortemOptions struct {
	Title string
	// SLO is the end-to-end latency objective the summary compares p95 and
	// p99 with; 0 for none.
	SLO time.Duration
	// TraceURL links trace IDs: "{id}" is replaced by the ID
	// ("https://jaeger.example/trace/{id}"); empty for no links.
	TraceURL string
	// Waterfall is the slowest exemplar trace with its critical path;
	// nil leaves the chart out.
	Waterfall *Waterfall
	// Comparison is a compare or gate result, rendered after the summary;
	// nil for none.
	Comparison *Comparison
	// Assets is where a Markdown report links its SVG files from,
	// relative to the report ("report-assets"); WriteAsset writes one.
	// With no WriteAsset, Markdown leaves the charts out.
	Assets     string
	WriteAsset func(name string, svg []byte) error
	// Notes are said under Requests: where the figures came from, what
	// could not be shown.
	Notes []string
}

// Comparison is a compare or gate result as the postmortem shows it: a
// verdict, sentences and a table. Its producer fills it from its own
// result, so the postmortem renders any of them the same way.
type Comparison struct {
	Title   string
	Verdict string // "pass", "fail" or "" for a comparison without a gate
	// Headline is the sentence the summary says about it.
	Headline string
	Lines    []string
	Tables   []*ReportTable
}

// ReportTable is a table of the report. Columns from Numeric on are numbers:
// right-aligned and sorted as numbers in the HTML page.
type ReportTable struct {
	Caption string
	Head    []string
	Numeric int
	Rows    [][]ReportCell
}

// ReportCell is one table cell: its text, a sort key (NaN for text), and a link.
type ReportCell struct {
	Text string
	Sort float64
	Link string
	Code bool // a trace ID or other literal
}

func pmText(s string) ReportCell { return ReportCell{Text: s, Sort: math.NaN()} }

func pmMs(ms float64) ReportCell { return ReportCell{Text: Duration(ms), Sort: ms} }

func pmCountCell(n int64) ReportCell { return ReportCell{Text: pmCount(n), Sort: float64(n)} }

func pmPct(f float64) ReportCell { return ReportCell{Text: Percent(f), Sort: f} }

// chart is an SVG chart with the file name it gets beside a Markdown report.
type pmChart struct {
	File, Alt string
	SVG       string
}

// pmSection is one part of the engineering detail.
type pmSection struct {
	ID, Title string
	Paras     []string
	Charts    []pmChart
	Tables    []*ReportTable
	Links     []ReportCell // a list of links (the slowest traces)
}

// pmFigure is one of the summary's headline numbers.
type pmFigure struct {
	Label, Value, Note string
	Status             string // "ok", "bad" or ""
}

// pmDocument is everything a postmortem shows, in order.
type pmDocument struct {
	Title      string
	Window     string
	Figures    []pmFigure
	Summary    []string
	Comparison *Comparison
	Sections   []pmSection
}

func pmBuild(r *analyze.Result, o *PostmortemOptions) *pmDocument {
	d := &pmDocument{Title: o.Title, Window: pmWindow(r)}
	if d.Title == "" {
		d.Title = "Latency report"
	}
	d.Figures = pmFigures(r, o)
	d.Summary = pmSummary(r, o)
	if c := o.Comparison; c != nil {
		if c.Verdict != "" {
			f := pmFigure{Label: "latency gate", Value: strings.ToUpper(c.Verdict), Status: "ok"}
			if c.Verdict != "pass" {
				f.Status = "bad"
			}
			if len(c.Lines) > 0 {
				f.Note = c.Lines[0]
			}
			d.Figures = append(d.Figures, f)
		}
		if c.Headline != "" {
			d.Summary = slices.Insert(d.Summary, min(1, len(d.Summary)), c.Headline)
		}
	}
	d.Comparison = o.Comparison
	ov := pmOverview(r)
	ov.Paras = append(ov.Paras, o.Notes...)
	d.Sections = append(d.Sections, ov)
	if s, ok := pmStages(r, o.SLO); ok {
		d.Sections = append(d.Sections, s)
	}
	if s, ok := pmTail(r); ok {
		d.Sections = append(d.Sections, s)
	}
	if s, ok := pmGroups(r); ok {
		d.Sections = append(d.Sections, s)
	}
	if s, ok := pmCoverage(r); ok {
		d.Sections = append(d.Sections, s)
	}
	if s, ok := pmSlowest(r, o); ok {
		d.Sections = append(d.Sections, s)
	}
	d.Sections = append(d.Sections, pmOperations(r), pmQuality(r))
	return d
}

const pmTimeLayout = "2006-01-02 15:04:05Z07:00"

func pmWindow(r *analyze.Result) string {
	if r.WindowStart.IsZero() {
		return ""
	}
	s := r.WindowStart.Format(pmTimeLayout)
	end := r.WindowEnd.Format(pmTimeLayout)
	if r.WindowEnd.Format("2006-01-02") == r.WindowStart.Format("2006-01-02") {
		end = r.WindowEnd.Format("15:04:05Z07:00")
	}
	return fmt.Sprintf("Requests started %s – %s (%s)", s, end, Duration(float64(r.WindowEnd.Sub(r.WindowStart))/1e6))
}

// pmQuantile returns the summary's value at percentile p, if it was asked for.
func pmQuantile(pct []float64, s analyze.Summary, p float64) (float64, bool) {
	for i, q := range pct {
		if q == p && i < len(s.Quantiles) {
			return s.Quantiles[i], true
		}
	}
	return 0, false
}

// pmHeadline are the two the summary leads with: p95 and p99 when
// asked for, else the two highest.
func pmHeadline(pct []float64) []float64 {
	var out []float64
	for _, p := range []float64{95, 99} {
		if slices.Contains(pct, p) {
			out = append(out, p)
		}
	}
	if len(out) > 0 {
		return out
	}
	s := slices.Clone(pct)
	slices.Sort(s)
	if len(s) > 2 {
		s = s[len(s)-2:]
	}
	return s
}

// pmRef is the percentile single-figure columns show: p95 when asked for,
// else the highest asked.
func pmRef(pct []float64) float64 {
	if slices.Contains(pct, 95) || len(pct) == 0 {
		return 95
	}
	return slices.Max(pct)
}

func pmFigures(r *analyze.Result, o *PostmortemOptions) []pmFigure {
	n := r.Requests.Summary.Count
	out := []pmFigure{{Label: "requests", Value: pmCount(n), Note: pmPlural(int64(r.Traces), "trace") + ", " + pmPlural(int64(r.Spans), "span")}}
	slo := float64(o.SLO) / 1e6
	for _, p := range pmHeadline(r.Percentiles) {
		v, _ := pmQuantile(r.Percentiles, r.Requests.Summary, p)
		f := pmFigure{Label: analyze.PercentileKey(p) + " end to end", Value: Duration(v)}
		if slo > 0 && n > 0 {
			if v > slo {
				f.Status = "bad"
				f.Note = Percent0(v/slo-1) + " over the " + Duration(slo) + " SLO"
			} else {
				f.Status = "ok"
				f.Note = "within the " + Duration(slo) + " SLO"
			}
		}
		out = append(out, f)
	}
	er := pmFigure{Label: "errors", Value: Percent(pmRate(r.Requests.Errors, n)), Note: pmCount(r.Requests.Errors) + " of " + pmCount(n) + " requests"}
	out = append(out, er)
	return out
}

func pmRate(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// summary is the part a manager reads: a few sentences, most important first.
func pmSummary(r *analyze.Result, o *PostmortemOptions) []string {
	n := r.Requests.Summary.Count
	if n == 0 {
		return []string{"No request matched: there is nothing to report."}
	}
	var out []string
	hp := pmHeadline(r.Percentiles)
	var parts []string
	for _, p := range hp {
		v, _ := pmQuantile(r.Percentiles, r.Requests.Summary, p)
		parts = append(parts, analyze.PercentileKey(p)+" "+Duration(v))
	}
	s := fmt.Sprintf("End-to-end latency over %s: %s", pmPlural(n, "request"), strings.Join(parts, ", "))
	if v, ok := pmQuantile(r.Percentiles, r.Requests.Summary, 50); ok && !slices.Contains(hp, 50) {
		s += fmt.Sprintf(" (median %s)", Duration(v))
	}
	if o.SLO > 0 {
		slo := float64(o.SLO) / 1e6
		var over, within []string
		for _, p := range hp {
			v, _ := pmQuantile(r.Percentiles, r.Requests.Summary, p)
			if v > slo {
				over = append(over, fmt.Sprintf("%s is %s over", analyze.PercentileKey(p), Percent0(v/slo-1)))
			} else {
				within = append(within, analyze.PercentileKey(p))
			}
		}
		switch {
		case len(over) == 0:
			s += fmt.Sprintf(", within the %s SLO", Duration(slo))
		default:
			s += fmt.Sprintf(": against the %s SLO, %s", Duration(slo), strings.Join(over, " and "))
			if len(within) > 0 {
				s += " (" + strings.Join(within, ", ") + " within)"
			}
		}
		s += "."
		slow := pmCountAbove(&r.Requests.Dist, int64(o.SLO))
		s += fmt.Sprintf(" %s of requests (%s) took longer than %s.", Percent(pmRate(slow, n)), pmCount(slow), Duration(slo))
	} else {
		s += "."
	}
	out = append(out, s)

	if r.Requests.Errors == 0 {
		out = append(out, "No request failed.")
	} else {
		out = append(out, fmt.Sprintf("%s of requests failed (%s of %s).", Percent(pmRate(r.Requests.Errors, n)), pmCount(r.Requests.Errors), pmCount(n)))
	}

	if len(r.Stages) > 0 {
		top := r.Stages[0]
		s := fmt.Sprintf("Most of the time goes to %s: %s of all end-to-end latency", top.Stage, Percent0(top.Share))
		var more []string
		for _, st := range r.Stages[1:min(3, len(r.Stages))] {
			if st.Share >= 0.01 {
				more = append(more, fmt.Sprintf("%s (%s)", st.Stage, Percent0(st.Share)))
			}
		}
		if len(more) > 0 {
			s += ", then " + strings.Join(more, " and ")
		}
		out = append(out, s+".")
	}
	if t := pmTailSentence(r); t != "" {
		out = append(out, t)
	}
	if c := r.Coverage; c.UntracedShare >= 0.05 {
		s := fmt.Sprintf("%s of the latency is time no child span explains (missing instrumentation)", Percent0(c.UntracedShare))
		if len(c.Operations) > 0 {
			op := c.Operations[0]
			s += fmt.Sprintf(", most of it inside %s %s", op.Service, op.Operation)
		}
		out = append(out, s+".")
	}
	if len(r.Warnings) > 0 {
		total := 0
		for _, w := range r.Warnings {
			total += w.Count
		}
		out = append(out, fmt.Sprintf("The data has %s of %s; see Data quality.", pmPlural(int64(total), "warning"), pmPlural(int64(len(r.Warnings)), "kind")))
	}
	return out
}

// pmTailSentence says what the slowest band is made of and what grows from
// the typical requests to it.
func pmTailSentence(r *analyze.Result) string {
	if len(r.Bands) < 2 {
		return ""
	}
	first, last := r.Bands[0], r.Bands[len(r.Bands)-1]
	if first.Requests.Count == 0 || last.Requests.Count == 0 {
		return ""
	}
	mean := func(b analyze.BandStats) map[string]float64 {
		m := map[string]float64{}
		for _, s := range b.Stages {
			m[s.Stage] = s.Share * float64(b.TotalRequestNs) / float64(b.Requests.Count) / 1e6
		}
		return m
	}
	a, z := mean(first), mean(last)
	type growth struct {
		stage string
		ms    float64
	}
	var g []growth
	for st, v := range z {
		g = append(g, growth{st, v - a[st]})
	}
	slices.SortFunc(g, func(x, y growth) int {
		if c := cmp.Compare(y.ms, x.ms); c != 0 {
			return c
		}
		return cmp.Compare(x.stage, y.stage)
	})
	extra := last.Requests.Mean - first.Requests.Mean
	if extra <= 0 || len(g) == 0 || g[0].ms <= 0 {
		return ""
	}
	var parts []string
	for _, x := range g[:min(2, len(g))] {
		if x.ms > 0 && x.ms >= 0.1*extra {
			parts = append(parts, fmt.Sprintf("%s (+%s)", x.stage, Duration(x.ms)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("The slowest requests (%s, mean %s) take %s longer than typical ones (%s, mean %s); the difference is mostly %s.",
		last.Name, Duration(last.Requests.Mean), Duration(extra), first.Name, Duration(first.Requests.Mean), strings.Join(parts, " and "))
}

// pmCountAbove counts the values of d above ns, at the histogram's precision.
func pmCountAbove(d *analyze.Dist, ns int64) int64 {
	if d.Count == 0 || ns >= d.MaxNs {
		return 0
	}
	us := ns / 1000
	var n int64
	for _, b := range d.Histogram().Distribution() {
		if b.Count > 0 && b.From > us {
			n += b.Count
		}
	}
	return n
}

func pmOverview(r *analyze.Result) pmSection {
	s := pmSection{ID: "overview", Title: "Requests"}
	n := r.Requests.Summary.Count
	line := fmt.Sprintf("%s counted from %s read (%s).", pmPlural(n, "request"), pmPlural(int64(r.TracesRead), "trace"), pmPlural(int64(r.Spans), "span"))
	if r.Traces != r.TracesRead {
		line += fmt.Sprintf(" %s were filtered out.", pmPlural(int64(r.TracesRead-r.Traces), "trace"))
	}
	s.Paras = append(s.Paras, line)
	t := &ReportTable{Caption: "End-to-end latency (root spans)", Numeric: 0}
	t.Head = append(t.Head, "requests")
	row := []ReportCell{pmCountCell(n)}
	for i, p := range r.Percentiles {
		t.Head = append(t.Head, analyze.PercentileKey(p))
		row = append(row, pmMs(r.Requests.Summary.Quantiles[i]))
	}
	t.Head = append(t.Head, "max", "mean", "errors", "error rate")
	row = append(row, pmMs(r.Requests.Summary.Max), pmMs(r.Requests.Summary.Mean), pmCountCell(r.Requests.Errors), pmPct(pmRate(r.Requests.Errors, n)))
	t.Rows = [][]ReportCell{row}
	s.Tables = append(s.Tables, t)
	if len(r.Inputs) > 0 {
		in := &ReportTable{Caption: "Sources", Head: []string{"input", "format", "spans"}, Numeric: 2}
		for _, i := range r.Inputs {
			in.Rows = append(in.Rows, []ReportCell{pmText(i.Name), pmText(i.Format), pmCountCell(int64(i.Spans))})
		}
		s.Tables = append(s.Tables, in)
	}
	return s
}

func pmStages(r *analyze.Result, slo time.Duration) (pmSection, bool) {
	if len(r.Stages) == 0 {
		return pmSection{}, false
	}
	s := pmSection{ID: "stages", Title: "Stage breakdown"}
	s.Paras = append(s.Paras, "A stage's time in a request is the critical-path time of its spans: the part of the end-to-end latency spent waiting on it. Shares of all requests' latency add up to 100 %. Path percentiles are per request, over all requests (0 where the stage did not occur); self is the stage's spans' own time, wall the time any of its spans was open, spans the mean number of its spans in a request that has it.")
	t := &ReportTable{Head: []string{"stage", "in requests", "share"}, Numeric: 1}
	for _, p := range r.Percentiles {
		t.Head = append(t.Head, "path "+analyze.PercentileKey(p))
	}
	ref := pmRef(r.Percentiles)
	rk := analyze.PercentileKey(ref)
	t.Head = append(t.Head, "self "+rk, "wall "+rk, "spans")
	n := r.Requests.Summary.Count
	for _, st := range r.Stages {
		row := []ReportCell{pmText(st.Stage), pmPct(pmRate(st.Requests, n)), pmPct(st.Share)}
		for i := range r.Percentiles {
			row = append(row, pmMs(st.CriticalPath.Quantiles[i]))
		}
		selfRef, _ := pmQuantile(r.Percentiles, st.Self, ref)
		durRef, _ := pmQuantile(r.Percentiles, st.Duration, ref)
		spans := ReportCell{Text: strconv.FormatFloat(math.Round(st.CountMean*10)/10, 'f', -1, 64), Sort: st.CountMean}
		if st.CountMean == 0 {
			spans = ReportCell{Text: "—", Sort: math.NaN()} // not known (a snapshot)
		}
		row = append(row, pmMs(selfRef), pmMs(durRef), spans)
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
	if h := DistributionChart(r); h != nil {
		h.SLOMs = float64(slo) / 1e6
		s.Charts = append(s.Charts, pmChart{File: "latency-distribution.svg", Alt: h.Title, SVG: h.SVG()})
	}
	return s, true
}

func pmTail(r *analyze.Result) (pmSection, bool) {
	if len(r.Bands) == 0 || len(r.Stages) == 0 {
		return pmSection{}, false
	}
	s := pmSection{ID: "tail", Title: "Tail anatomy"}
	s.Paras = append(s.Paras, "Requests are split into bands by their end-to-end latency; each column is the mean critical-path time of a stage per request of the band. Reading across shows which stage grows in the tail.")
	if c := BandsChart(r); c != nil {
		s.Charts = append(s.Charts, pmChart{File: "stage-bands.svg", Alt: c.Title, SVG: c.SVG()})
	}
	t := &ReportTable{Head: []string{"stage"}, Numeric: 1}
	bandMean := func(b analyze.BandStats, stage string) float64 {
		for _, st := range b.Stages {
			if st.Stage == stage && b.Requests.Count > 0 {
				return st.Share * float64(b.TotalRequestNs) / float64(b.Requests.Count) / 1e6
			}
		}
		return 0
	}
	head := &ReportTable{Caption: "Bands", Head: []string{"band", "latency", "requests", "share of latency", "mean", "untraced"}, Numeric: 2}
	for _, b := range r.Bands {
		t.Head = append(t.Head, b.Name)
		lat := fmt.Sprintf("%s – %s", Duration(float64(b.LowNs)/1e6), Duration(float64(b.HighNs)/1e6))
		head.Rows = append(head.Rows, []ReportCell{pmText(b.Name), pmText(lat), pmCountCell(b.Requests.Count), pmPct(b.ShareOfLatency), pmMs(b.Requests.Mean), pmPct(b.UntracedShare)})
	}
	last := len(r.Bands) - 1
	t.Head = append(t.Head, r.Bands[last].Name+" − "+r.Bands[0].Name)
	// The bands' rows: the largest stages, and the rest summed when there
	// are many.
	for _, st := range r.Bands[0].Stages {
		row := []ReportCell{pmText(st.Stage)}
		for _, b := range r.Bands {
			row = append(row, pmMs(bandMean(b, st.Stage)))
		}
		g := bandMean(r.Bands[last], st.Stage) - bandMean(r.Bands[0], st.Stage)
		text := "+" + Duration(g)
		switch {
		case g < 0:
			text = "−" + Duration(-g)
		case g == 0:
			text = "0"
		}
		row = append(row, ReportCell{Text: text, Sort: g})
		t.Rows = append(t.Rows, row)
	}
	t.Caption = "Mean critical-path time per request, by band"
	s.Tables = append(s.Tables, head, t)
	return s, true
}

func pmGroups(r *analyze.Result) (pmSection, bool) {
	if r.GroupBy == "" || len(r.Groups) == 0 {
		return pmSection{}, false
	}
	s := pmSection{ID: "groups", Title: "Groups by " + r.GroupBy}
	t := &ReportTable{Head: []string{r.GroupBy, "requests"}, Numeric: 1}
	for _, p := range r.Percentiles {
		t.Head = append(t.Head, analyze.PercentileKey(p))
	}
	t.Head = append(t.Head, "error rate", "largest stage")
	for _, g := range r.Groups {
		name := g.Value
		if g.Missing {
			name = "(no " + r.GroupBy + ")"
		}
		row := []ReportCell{pmText(name), pmCountCell(g.Requests.Summary.Count)}
		for i := range r.Percentiles {
			row = append(row, pmMs(g.Requests.Summary.Quantiles[i]))
		}
		row = append(row, pmPct(pmRate(g.Requests.Errors, g.Requests.Summary.Count)))
		top := ""
		if len(g.Stages) > 0 {
			best := g.Stages[0]
			for _, st := range g.Stages {
				if st.Share > best.Share {
					best = st
				}
			}
			top = fmt.Sprintf("%s (%s)", best.Stage, Percent0(best.Share))
		}
		row = append(row, ReportCell{Text: top, Sort: math.NaN()})
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
	return s, true
}

// pmMaxCoverageRows bounds the missing-instrumentation table.
const pmMaxCoverageRows = 15

func pmCoverage(r *analyze.Result) (pmSection, bool) {
	c := r.Coverage
	if r.Requests.Summary.Count == 0 || (len(c.Operations) == 0 && len(c.MissingStages) == 0) {
		return pmSection{}, false
	}
	s := pmSection{ID: "coverage", Title: "Missing instrumentation"}
	ref := pmRef(r.Percentiles)
	rk := analyze.PercentileKey(ref)
	v, _ := pmQuantile(r.Percentiles, c.Untraced, ref)
	s.Paras = append(s.Paras, fmt.Sprintf("%s of all end-to-end latency runs through time that no child span explains: a parent waited on something that has no span (%s per request: %s). The operations below are where that time lies.", Percent(c.UntracedShare), rk, Duration(v)))
	t := &ReportTable{Head: []string{"service", "operation", "stage", "requests", "share of latency", "untraced " + rk, "largest gap", "gap share"}, Numeric: 3}
	for i, u := range c.Operations {
		if i == pmMaxCoverageRows || u.Share < 0.001 {
			break
		}
		uv, _ := pmQuantile(r.Percentiles, u.Summary, ref)
		t.Rows = append(t.Rows, []ReportCell{pmText(u.Service), pmText(u.Operation), pmText(u.Stage), pmCountCell(u.Requests), pmPct(u.Share), pmMs(uv), {Text: pmGapText(u.Gap), Sort: math.NaN()}, pmPct(u.Gap.Share)})
	}
	if len(t.Rows) > 0 {
		s.Tables = append(s.Tables, t)
	}
	if len(c.MissingStages) > 0 {
		s.Paras = append(s.Paras, "Stages the rules name that no span fell in: "+strings.Join(c.MissingStages, ", ")+". Either the request path has no such step, or it is not instrumented.")
	}
	return s, true
}

func pmGapText(g analyze.Gap) string {
	after, before := g.After, g.Before
	switch {
	case after == "" && before == "":
		return "the whole span (no children)"
	case after == "":
		return "before " + before
	case before == "":
		return "after " + after
	}
	return "between " + after + " and " + before
}

// TraceLink fills a --trace-url template with a trace ID, escaped for a
// URL path (opaque Jaeger IDs can hold any character).
func TraceLink(template, id string) string {
	if template == "" {
		return ""
	}
	return strings.ReplaceAll(template, "{id}", url.PathEscape(id))
}

func pmSlowest(r *analyze.Result, o *PostmortemOptions) (pmSection, bool) {
	if len(r.Requests.Exemplars) == 0 {
		return pmSection{}, false
	}
	s := pmSection{ID: "slowest", Title: "Slowest traces"}
	s.Paras = append(s.Paras, "The slowest requests, slowest first:")
	for _, id := range r.Requests.Exemplars {
		s.Links = append(s.Links, ReportCell{Text: id, Link: TraceLink(o.TraceURL, id), Code: true})
	}
	if w := o.Waterfall; w != nil && len(w.Spans) > 0 {
		s.Charts = append(s.Charts, pmChart{File: "slowest-trace.svg", Alt: w.Title, SVG: w.SVG()})
	}
	if len(r.Stages) > 0 {
		t := &ReportTable{Caption: "Per stage, the requests where it took longest on the critical path", Head: []string{"stage", "path max", "trace"}, Numeric: 1}
		for _, st := range r.Stages {
			if len(st.Exemplars) == 0 {
				continue
			}
			id := ReportCell{Text: st.Exemplars[0], Code: true, Sort: math.NaN(), Link: TraceLink(o.TraceURL, st.Exemplars[0])}
			t.Rows = append(t.Rows, []ReportCell{pmText(st.Stage), pmMs(st.CriticalPath.Max), id})
		}
		if len(t.Rows) > 0 {
			s.Tables = append(s.Tables, t)
		}
	}
	return s, true
}

// pmMaxOperationRows bounds the operations table.
const pmMaxOperationRows = 40

func pmOperations(r *analyze.Result) pmSection {
	s := pmSection{ID: "operations", Title: "Operations"}
	t := &ReportTable{Head: []string{"service", "operation", "stage", "count", "self share", "path share"}, Numeric: 3}
	for _, p := range r.Percentiles {
		t.Head = append(t.Head, analyze.PercentileKey(p))
	}
	t.Head = append(t.Head, "max", "error rate")
	for i, op := range r.Operations {
		if i == pmMaxOperationRows {
			s.Paras = append(s.Paras, fmt.Sprintf("The %d operations with the largest share of self time; %d more are in the JSON output.", pmMaxOperationRows, len(r.Operations)-pmMaxOperationRows))
			break
		}
		row := []ReportCell{pmText(op.Service), pmText(op.Operation), pmText(op.Stage), pmCountCell(op.Count), pmPct(op.SelfShare), pmPct(op.CriticalPathShare)}
		for i := range r.Percentiles {
			row = append(row, pmMs(op.Duration.Quantiles[i]))
		}
		row = append(row, pmMs(op.Duration.Max), pmPct(op.ErrorRate))
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
	return s
}

func pmQuality(r *analyze.Result) pmSection {
	s := pmSection{ID: "quality", Title: "Data quality"}
	if len(r.Warnings) == 0 && len(r.ClockSkew) == 0 {
		s.Paras = append(s.Paras, "No data-quality warnings: every span was usable as read.")
		return s
	}
	if len(r.Warnings) > 0 {
		s.Paras = append(s.Paras, "What had to be repaired or left out while reading and analysing; every adjustment is counted.")
		t := &ReportTable{Head: []string{"warning", "count", "example"}, Numeric: 1}
		for _, w := range r.Warnings {
			t.Rows = append(t.Rows, []ReportCell{pmText(w.Kind), pmCountCell(int64(w.Count)), {Text: w.Example, Sort: math.NaN()}})
		}
		s.Tables = append(s.Tables, t)
	}
	if len(r.ClockSkew) > 0 {
		t := &ReportTable{Caption: fmt.Sprintf("Clock-skew adjustments (at most %s)", Duration(float64(r.MaxClockSkewNs)/1e6)), Head: []string{"service", "spans shifted", "over the maximum", "largest shift"}, Numeric: 1}
		for _, k := range r.ClockSkew {
			t.Rows = append(t.Rows, []ReportCell{pmText(k.Service), pmCountCell(k.Adjusted), pmCountCell(k.Exceeded), pmMs(float64(k.MaxShiftNs) / 1e6)})
		}
		s.Tables = append(s.Tables, t)
	}
	return s
}
