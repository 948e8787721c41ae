package report

import (
	"math"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// This file turns a result into the data of the report's charts; svg.go
// draws them.

// chartMaxStages is how many stages get a colour of their own; the rest
// are drawn together as "other stages".
const chartMaxStages = 9

// StageColors gives each stage of r its colour, in the order of r.Stages
// (largest share first), so every chart colours a stage the same way.
func StageColors(r *analyze.Result) map[string]string {
	out := map[string]string{}
	for i, s := range r.Stages {
		if i < chartMaxStages {
			out[s.Stage] = Palette[i%len(Palette)]
		} else {
			out[s.Stage] = OtherColor
		}
	}
	return out
}

// BandsChart draws the tail anatomy: one bar per latency band, each
// stage's mean critical-path time per request of the band as a segment.
// Segments of a bar add up to the band's mean end-to-end latency.
func BandsChart(r *analyze.Result) *StackedBars {
	if len(r.Bands) == 0 || len(r.Stages) == 0 {
		return nil
	}
	c := &StackedBars{
		Title:   "Where the time goes, by latency band (mean per request, stages on the critical path)",
		Caption: "Bands split the requests by end-to-end latency percentile; a segment is a stage's mean critical-path time in the band.",
	}
	colors := StageColors(r)
	idx := map[string]int{}
	for i, s := range r.Stages {
		if i < chartMaxStages {
			idx[s.Stage] = i
			c.Series = append(c.Series, s.Stage)
			c.Colors = append(c.Colors, colors[s.Stage])
		}
	}
	other := -1
	if len(r.Stages) > chartMaxStages {
		other = len(c.Series)
		c.Series = append(c.Series, "other stages")
		c.Colors = append(c.Colors, OtherColor)
	}
	for _, b := range r.Bands {
		if b.Requests.Count == 0 {
			continue
		}
		bar := StackedBar{Label: b.Name, Note: pmPlural(b.Requests.Count, "request") + ", mean " + Duration(b.Requests.Mean), Values: make([]float64, len(c.Series))}
		for _, s := range b.Stages {
			ms := s.Share * float64(b.TotalRequestNs) / float64(b.Requests.Count) / 1e6
			i, ok := idx[s.Stage]
			if !ok {
				if other < 0 {
					continue
				}
				i = other
			}
			bar.Values[i] += ms
		}
		c.Bars = append(c.Bars, bar)
	}
	if len(c.Bars) == 0 {
		return nil
	}
	return c
}

// chartMaxDistRows is how many stages the distribution chart shows.
const chartMaxDistRows = 8

// DistributionChart draws the end-to-end latency and each main stage's
// critical-path time per request as histograms on a log time axis, from
// the HDR histograms of the result.
func DistributionChart(r *analyze.Result) *Histograms {
	if r.Requests.Dist.Count == 0 {
		return nil
	}
	c := &Histograms{
		Title:   "Latency distribution: end to end and per stage (critical-path time per request)",
		Caption: "From the HDR histograms (3 significant digits); 10 bins per decade. Requests in which a stage did not occur are counted as absent.",
	}
	c.Rows = append(c.Rows, chartHistRow("end to end", "#3b3f45", &r.Requests.Dist, r.Percentiles, r.Requests.Summary))
	colors := StageColors(r)
	for i, s := range r.Stages {
		if i >= chartMaxDistRows {
			break
		}
		d := s.CriticalPathDist
		c.Rows = append(c.Rows, chartHistRow(s.Stage, colors[s.Stage], &d, r.Percentiles, s.CriticalPath))
	}
	return c
}

// chartBinsPerDecade is the resolution of the distribution chart.
const chartBinsPerDecade = 10

func chartHistRow(name, color string, d *analyze.Dist, pct []float64, sum analyze.Summary) HistRow {
	row := HistRow{Name: name, Color: color, Total: d.Count}
	h := d.Histogram()
	bins := map[int]int64{}
	lo, hi := math.MaxInt, math.MinInt
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		if b.To == 0 {
			row.Zeros += b.Count
			continue
		}
		mid := (float64(b.From) + float64(b.To)) / 2 / 1000 // ms
		i := int(math.Floor(math.Log10(mid) * chartBinsPerDecade))
		bins[i] += b.Count
		lo, hi = min(lo, i), max(hi, i)
	}
	for i := lo; i <= hi && len(bins) > 0; i++ {
		row.Bins = append(row.Bins, HistBin{
			FromMs: math.Pow(10, float64(i)/chartBinsPerDecade),
			ToMs:   math.Pow(10, float64(i+1)/chartBinsPerDecade),
			Count:  bins[i],
		})
	}
	for i, p := range pct {
		if i < len(sum.Quantiles) {
			row.Marks = append(row.Marks, HistMark{Label: analyze.PercentileKey(p), Ms: sum.Quantiles[i]})
		}
	}
	return row
}

func pmPlural(n int64, word string) string {
	s := pmCount(n) + " " + word
	if n != 1 {
		s += "s"
	}
	return s
}

// pmCount writes a count with thousands separators: 12,345.
func pmCount(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := []byte{}
	d := 0
	for {
		s = append([]byte{byte('0' + n%10)}, s...)
		n /= 10
		d++
		if n == 0 {
			break
		}
		if d%3 == 0 {
			s = append([]byte{','}, s...)
		}
	}
	if neg {
		return "-" + string(s)
	}
	return string(s)
}
