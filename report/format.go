package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// Renderer writes a result in one output format.
type Renderer func(w io.Writer, r *analyze.Result) error

// Formats maps --format names to renderers.
var Formats = map[string]Renderer{
	"table":    Table,
	"json":     JSON,
	"markdown": Markdown,
	"csv":      CSV,
}

// FormatNames lists the formats in the order help texts show them.
var FormatNames = []string{"table", "json", "markdown", "csv"}

// Duration prints milliseconds for people, with three significant digits:
// 850µs, 9.12ms, 912ms, 1.84s, 12.3s, 4m05s.
func Duration(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms < 0.9995: // below what rounds to 1000µs
		return sig3(ms*1000) + "µs"
	case ms < 999.5:
		return sig3(ms) + "ms"
	case ms < 60_000:
		return sig3(ms/1000) + "s"
	}
	s := int64(math.Round(ms / 1000))
	if s < 3600 {
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
}

// sig3 formats a positive number with three significant digits, without
// trailing zeros after the point.
func sig3(v float64) string {
	var s string
	switch {
	case v >= 100:
		s = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case v >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Percent prints a fraction as a percentage with one decimal.
func Percent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

func pctHeaders(prefix string, pct []float64) []string {
	out := make([]string, len(pct))
	for i, p := range pct {
		out[i] = prefix + analyze.PercentileKey(p)
	}
	return out
}

func durations(s analyze.Summary) []string {
	out := make([]string, len(s.Quantiles))
	for i, q := range s.Quantiles {
		out[i] = Duration(q)
	}
	return out
}
