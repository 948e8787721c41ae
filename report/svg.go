package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file draws the report's charts as standalone SVG documents: the
// same bytes are inlined in the HTML page and written beside a Markdown
// report. Charts take plain data (charts.go turns a result into it), use
// attributes rather than style sheets so they look the same wherever they
// are shown, fetch nothing, and carry <title> tooltips for the details.

// Palette colours stages in the order of Result.Stages; it is Tableau 10,
// which stays distinguishable for the common colour-vision deficiencies
// when paired with the legend's labels.
var Palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// OtherColor is for everything past the palette ("other stages").
const OtherColor = "#d4d4d4"

const (
	svgFont  = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
	svgInk   = "#1f2328"
	svgMuted = "#59636e"
	svgGrid  = "#e4e7eb"
	svgWidth = 960.0
)

// svgDoc builds one SVG document.
type svgDoc struct {
	b    strings.Builder
	w, h float64
}

func newSVG(w, h float64, title, kind string) *svgDoc {
	s := &svgDoc{w: w, h: h}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s" data-chart="%s" font-family="%s" font-size="12" fill="%s">`,
		svgNum(w), svgNum(h), svgNum(w), svgNum(h), svgEsc(title), svgEsc(kind), svgEsc(svgFont), svgInk)
	fmt.Fprintf(&s.b, "<title>%s</title>", svgEsc(title))
	s.rect(0, 0, w, h, "#ffffff", "")
	return s
}

func (s *svgDoc) String() string { return s.b.String() + "</svg>\n" }

// rect draws a rectangle; tip, when set, is its tooltip.
func (s *svgDoc) rect(x, y, w, h float64, fill, tip string, attrs ...string) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"`, svgNum(x), svgNum(y), svgNum(math.Max(w, 0)), svgNum(math.Max(h, 0)), fill)
	for _, a := range attrs {
		s.b.WriteString(" " + a)
	}
	if tip == "" {
		s.b.WriteString("/>")
		return
	}
	fmt.Fprintf(&s.b, "><title>%s</title></rect>", svgEsc(tip))
}

// text writes a label; anchor is start, middle or end.
func (s *svgDoc) text(x, y float64, anchor string, size float64, color, t string, attrs ...string) {
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" text-anchor="%s" font-size="%s" fill="%s"`, svgNum(x), svgNum(y), anchor, svgNum(size), color)
	for _, a := range attrs {
		s.b.WriteString(" " + a)
	}
	fmt.Fprintf(&s.b, ">%s</text>", svgEsc(t))
}

func (s *svgDoc) line(x1, y1, x2, y2 float64, color string, width float64, attrs ...string) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"`, svgNum(x1), svgNum(y1), svgNum(x2), svgNum(y2), color, svgNum(width))
	for _, a := range attrs {
		s.b.WriteString(" " + a)
	}
	s.b.WriteString("/>")
}

// legend draws colour keys left to right, wrapping; it returns the height used.
func (s *svgDoc) legend(x, y, maxW float64, names, colors []string) float64 {
	cx, cy := x, y
	for i, n := range names {
		label := svgClip(n, 40)
		w := 18 + svgTextWidth(label, 12) + 16
		if cx > x && cx+w > x+maxW {
			cx = x
			cy += 18
		}
		s.rect(cx, cy-10, 12, 12, colors[i], n, `rx="2"`)
		s.text(cx+17, cy, "start", 12, svgInk, label)
		cx += w
	}
	return cy - y + 18
}

// svgLegendHeight is what legend will use, for laying out before drawing.
func svgLegendHeight(maxW float64, names []string) float64 {
	cx, rows := 0.0, 1
	for _, n := range names {
		w := 18 + svgTextWidth(svgClip(n, 40), 12) + 16
		if cx > 0 && cx+w > maxW {
			cx = 0
			rows++
		}
		cx += w
	}
	return float64(rows) * 18
}

// svgNum formats a coordinate with at most one decimal.
func svgNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func svgEsc(s string) string { return html.EscapeString(s) }

// svgTextWidth estimates a label's width in a sans-serif face.
func svgTextWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * 0.56
}

// svgClip shortens s to at most n characters with an ellipsis.
func svgClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// svgNiceStep returns a 1-2-5 step that cuts span into about n ticks.
func svgNiceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// StackedBars is a horizontal stacked bar chart: one bar per row (a latency
// band), one segment per series (a stage), lengths in milliseconds.
type StackedBars struct {
	Title  string
	Series []string
	Colors []string // parallel to Series
	Bars   []StackedBar
	// Caption is shown under the chart.
	Caption string
}

// StackedBar is one bar: Values parallel to the chart's Series.
type StackedBar struct {
	Label  string // "p99+"
	Note   string // "20 requests, mean 3.1s"
	Values []float64
}

// SVG draws the chart.
func (c *StackedBars) SVG() string {
	const (
		left, right = 170.0, 30.0
		top         = 34.0
		barH, gap   = 28.0, 18.0
	)
	plotW := svgWidth - left - right
	maxTotal := 0.0
	for _, b := range c.Bars {
		t := 0.0
		for _, v := range b.Values {
			t += math.Max(v, 0)
		}
		maxTotal = math.Max(maxTotal, t)
	}
	if maxTotal <= 0 {
		maxTotal = 1
	}
	step := svgNiceStep(maxTotal, 5)
	axisMax := math.Ceil(maxTotal/step) * step
	plotH := float64(len(c.Bars))*(barH+gap) - gap
	legH := svgLegendHeight(svgWidth-40, c.Series)
	capH := 0.0
	if c.Caption != "" {
		capH = 20
	}
	h := top + plotH + 34 + legH + capH + 10
	s := newSVG(svgWidth, h, c.Title, "stacked-bars")
	s.text(20, 20, "start", 14, svgInk, c.Title, `font-weight="600"`)
	x := func(v float64) float64 { return left + v/axisMax*plotW }
	for t := 0.0; t <= axisMax+step/2; t += step {
		s.line(x(t), top-4, x(t), top+plotH+4, svgGrid, 1)
		s.text(x(t), top+plotH+18, "middle", 11, svgMuted, Duration(t))
	}
	for i, b := range c.Bars {
		y := top + float64(i)*(barH+gap)
		s.text(left-10, y+12, "end", 13, svgInk, b.Label, `font-weight="600"`)
		s.text(left-10, y+26, "end", 10.5, svgMuted, svgClip(b.Note, 30))
		total := 0.0
		for _, v := range b.Values {
			total += math.Max(v, 0)
		}
		cx := 0.0
		for j, v := range b.Values {
			if v <= 0 {
				continue
			}
			share := v / total
			tip := fmt.Sprintf("%s — %s: %s (%s of the bar)", b.Label, c.Series[j], Duration(v), Percent(share))
			s.rect(x(cx), y, x(cx+v)-x(cx), barH, c.Colors[j], tip, `data-segment="1"`, `stroke="#ffffff"`, `stroke-width="0.5"`)
			if w := x(cx+v) - x(cx); w > 34 {
				s.text(x(cx)+w/2, y+barH/2+4, "middle", 10.5, svgLabelInk(c.Colors[j]), Percent0(share), `pointer-events="none"`)
			}
			cx += v
		}
		s.text(x(total)+6, y+barH/2+4, "start", 11, svgMuted, Duration(total))
	}
	ly := top + plotH + 40
	s.legend(20, ly, svgWidth-40, c.Series, c.Colors)
	if c.Caption != "" {
		s.text(20, ly+legH+8, "start", 11, svgMuted, c.Caption)
	}
	return s.String()
}

// Percent0 prints a fraction as a whole percentage; a small non-zero one
// as "<1%".
func Percent0(f float64) string {
	if f > 0 && f < 0.005 {
		return "<1%"
	}
	return strconv.FormatFloat(math.Round(f*100), 'f', 0, 64) + "%"
}

// svgLabelInk picks black or white text for a fill colour.
func svgLabelInk(fill string) string {
	if len(fill) != 7 || fill[0] != '#' {
		return svgInk
	}
	v, err := strconv.ParseUint(fill[1:], 16, 32)
	if err != nil {
		return svgInk
	}
	r, g, b := float64(v>>16&255), float64(v>>8&255), float64(v&255)
	if 0.299*r+0.587*g+0.114*b > 150 {
		return svgInk
	}
	return "#ffffff"
}

// Histograms are latency distributions drawn as small multiples on one
// logarithmic time axis: a row per figure, bars per bin.
type Histograms struct {
	Title   string
	Rows    []HistRow
	Caption string
	// SLOMs, when set, is drawn as a line across the first row (the
	// end-to-end latency).
	SLOMs float64
}

// HistRow is one distribution: Bins in milliseconds, Zeros the values of 0
// (requests where the stage did not occur), which a log axis cannot show.
type HistRow struct {
	Name  string
	Color string
	Bins  []HistBin
	Zeros int64
	Total int64
	Marks []HistMark // percentiles, drawn as ticks
}

// HistBin counts the values in [FromMs, ToMs).
type HistBin struct {
	FromMs, ToMs float64
	Count        int64
}

// HistMark is a labelled value on a row: a percentile.
type HistMark struct {
	Label string
	Ms    float64
}

// SVG draws the chart.
func (c *Histograms) SVG() string {
	const (
		left, right = 250.0, 30.0
		top         = 58.0
		rowH, gap   = 40.0, 12.0
	)
	plotW := svgWidth - left - right
	lo, hi := math.Inf(1), 0.0
	for _, r := range c.Rows {
		for _, b := range r.Bins {
			if b.Count > 0 && b.FromMs > 0 {
				lo = math.Min(lo, b.FromMs)
			}
			if b.Count > 0 {
				hi = math.Max(hi, b.ToMs)
			}
		}
	}
	if math.IsInf(lo, 1) || hi <= 0 {
		lo, hi = 1, 1000
	}
	if c.SLOMs > 0 {
		lo, hi = math.Min(lo, c.SLOMs), math.Max(hi, c.SLOMs*1.01)
	}
	dlo := math.Floor(math.Log10(lo))
	dhi := math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	x := func(ms float64) float64 {
		if ms <= 0 {
			return left
		}
		return left + (math.Log10(ms)-dlo)/(dhi-dlo)*plotW
	}
	plotH := float64(len(c.Rows))*(rowH+gap) - gap
	capH := 0.0
	if c.Caption != "" {
		capH = 20
	}
	h := top + plotH + 30 + capH + 8
	s := newSVG(svgWidth, h, c.Title, "histograms")
	s.text(20, 20, "start", 14, svgInk, c.Title, `font-weight="600"`)
	// Key for the percentile ticks.
	kx := 20.0
	for _, k := range []struct{ label, dash string }{{"p50", ""}, {"p95", `stroke-dasharray="4 2"`}, {"p99", `stroke-dasharray="1.5 2"`}} {
		s.line(kx, 38, kx+18, 38, svgInk, 1.5, k.dash)
		s.text(kx+22, 42, "start", 11, svgMuted, k.label)
		kx += 60
	}
	s.text(kx+10, 42, "start", 11, svgMuted, "bar height: share of the row's requests in the bin (log time axis)")
	for d := dlo; d <= dhi; d++ {
		v := math.Pow(10, d)
		s.line(x(v), top-6, x(v), top+plotH+4, "#c9ced4", 1)
		s.text(x(v), top+plotH+18, "middle", 11, svgMuted, Duration(v))
		if d < dhi {
			for _, m := range []float64{2, 5} {
				s.line(x(v*m), top-2, x(v*m), top+plotH, svgGrid, 1)
			}
		}
	}
	for i, r := range c.Rows {
		y := top + float64(i)*(rowH+gap)
		base := y + rowH
		s.line(left, base, left+plotW, base, "#c9ced4", 1)
		s.text(left-10, y+14, "end", 12.5, svgInk, svgClip(r.Name, 34), `font-weight="600"`)
		sub := ""
		if r.Total > 0 && r.Zeros > 0 {
			sub = "absent in " + Percent0(float64(r.Zeros)/float64(r.Total)) + " of requests"
		}
		var marks []string
		for _, m := range r.Marks {
			marks = append(marks, m.Label+" "+Duration(m.Ms))
		}
		s.text(left-10, y+28, "end", 10.5, svgMuted, strings.Join(marks, " · "))
		if sub != "" {
			s.text(left-10, y+40, "end", 10, svgMuted, sub)
		}
		var peak int64
		for _, b := range r.Bins {
			peak = max(peak, b.Count)
		}
		if peak == 0 {
			continue
		}
		n := r.Total - r.Zeros
		for _, b := range r.Bins {
			if b.Count == 0 {
				continue
			}
			bh := float64(b.Count) / float64(peak) * (rowH - 4)
			x0, x1 := x(math.Max(b.FromMs, math.Pow(10, dlo))), x(b.ToMs)
			tip := fmt.Sprintf("%s: %s–%s: %d requests (%s)", r.Name, Duration(b.FromMs), Duration(b.ToMs), b.Count, Percent(float64(b.Count)/float64(max(n, 1))))
			s.rect(x0, base-bh, math.Max(x1-x0-0.6, 0.8), bh, r.Color, tip, `data-bin="1"`)
		}
		for _, m := range r.Marks {
			dash := ""
			switch m.Label {
			case "p95":
				dash = `stroke-dasharray="4 2"`
			case "p99":
				dash = `stroke-dasharray="1.5 2"`
			}
			if m.Ms > 0 {
				s.line(x(m.Ms), y, x(m.Ms), base, svgInk, 1.5, dash)
			}
		}
	}
	if c.SLOMs > 0 && len(c.Rows) > 0 {
		xs := x(c.SLOMs)
		s.line(xs, top-4, xs, top+rowH, "#d62728", 2, `data-slo="1"`)
		s.text(xs+4, top+6, "start", 11, "#d62728", "SLO "+Duration(c.SLOMs), `font-weight="600"`)
	}
	if c.Caption != "" {
		s.text(20, top+plotH+40, "start", 11, svgMuted, c.Caption)
	}
	return s.String()
}

// Waterfall is one trace drawn as bars on its timeline, with the slices of
// its critical path highlighted.
type Waterfall struct {
	Title   string
	TraceID string
	TotalNs int64 // the root's duration: the timeline's length
	Spans   []WaterfallSpan
	Hidden  int // spans left out to keep the chart readable
	Caption string
}

// WaterfallSpan is one row: times in nanoseconds from the root's start.
type WaterfallSpan struct {
	Label   string // "service: operation"
	Stage   string
	Color   string // the stage's colour, for its path slices
	Depth   int
	StartNs int64
	EndNs   int64
	Error   bool
	Async   bool       // not waited on (FOLLOWS_FROM, a consumer)
	Path    [][2]int64 // its critical-path slices
	PathNs  int64      // their total
}

// SVG draws the chart.
func (c *Waterfall) SVG() string {
	const (
		left, right = 330.0, 60.0
		top         = 64.0
		rowH        = 17.0
	)
	plotW := svgWidth - left - right
	total := float64(max(c.TotalNs, 1))
	for _, sp := range c.Spans {
		total = math.Max(total, float64(sp.EndNs))
	}
	x := func(ns int64) float64 { return left + float64(ns)/total*plotW }
	plotH := float64(len(c.Spans)) * rowH
	capH := 0.0
	if c.Caption != "" || c.Hidden > 0 {
		capH = 20
	}
	h := top + plotH + 14 + capH + 8
	s := newSVG(svgWidth, h, c.Title, "waterfall")
	s.text(20, 20, "start", 14, svgInk, c.Title, `font-weight="600"`)
	s.rect(20, 32, 24, 9, "#cfd5dc", "")
	s.text(50, 40, "start", 11, svgMuted, "span (off the critical path)")
	s.rect(230, 32, 24, 9, Palette[0], "")
	s.text(260, 40, "start", 11, svgMuted, "critical-path time, coloured by stage")
	s.rect(500, 32, 24, 9, "#ffffff", "", `stroke="#d62728"`, `stroke-width="1.5"`)
	s.text(530, 40, "start", 11, svgMuted, "error")
	step := svgNiceStep(total/1e6, 6)
	for t := 0.0; t*1e6 <= total+1; t += step {
		xx := x(int64(t * 1e6))
		s.line(xx, top-6, xx, top+plotH, svgGrid, 1)
		s.text(xx, top-10, "middle", 10.5, svgMuted, Duration(t))
	}
	for i, sp := range c.Spans {
		y := top + float64(i)*rowH
		if i%2 == 1 {
			s.rect(20, y, svgWidth-40, rowH, "#f6f8fa", "")
		}
		ind := math.Min(float64(sp.Depth)*10, 120)
		label := svgClip(sp.Label, int((left-30-ind)/(11*0.56)))
		s.text(24+ind, y+12.5, "start", 11, svgInk, label)
		x0, x1 := x(sp.StartNs), x(sp.EndNs)
		tip := fmt.Sprintf("%s\nstage: %s\nstart +%s, duration %s", sp.Label, sp.Stage, Duration(float64(sp.StartNs)/1e6), Duration(float64(sp.EndNs-sp.StartNs)/1e6))
		if sp.PathNs > 0 {
			tip += ", on the critical path " + Duration(float64(sp.PathNs)/1e6)
		}
		if sp.Async {
			tip += "\nasynchronous: not waited on"
		}
		attrs := []string{`data-span="1"`, `rx="1.5"`}
		if sp.Error {
			attrs = append(attrs, `stroke="#d62728"`, `stroke-width="1.5"`)
		}
		fill := "#cfd5dc"
		if sp.Async {
			attrs = append(attrs, `fill-opacity="0.5"`)
		}
		s.rect(x0, y+3, math.Max(x1-x0, 1), rowH-6, fill, tip, attrs...)
		for _, p := range sp.Path {
			px0, px1 := x(p[0]), x(p[1])
			s.rect(px0, y+3, math.Max(px1-px0, 0.8), rowH-6, sp.Color, tip, `data-path="1"`)
		}
		if sp.Error {
			s.text(x1+4, y+12.5, "start", 11, "#d62728", "error", `font-weight="600"`)
		}
	}
	cap := c.Caption
	if c.Hidden > 0 {
		if cap != "" {
			cap += " "
		}
		cap += fmt.Sprintf("%d shorter spans off the critical path are not shown.", c.Hidden)
	}
	if cap != "" {
		s.text(20, top+plotH+24, "start", 11, svgMuted, cap)
	}
	return s.String()
}
