package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// WaterfallRows is how many spans a waterfall shows at most: every span on
// the critical path, then the longest of the others.
const WaterfallRows = 60

// WaterfallOf draws an explained trace (analyze.Explain) with its critical
// path coloured by stage, in colors (StageColors of the result it came
// from). Spans outside the request's tree are left out and counted.
func WaterfallOf(x *analyze.Explanation, colors map[string]string) *Waterfall {
	if x == nil || len(x.Spans) == 0 {
		return nil
	}
	w := &Waterfall{
		Title:   fmt.Sprintf("Slowest request: trace %s, %s end to end", x.TraceID, Duration(float64(x.DurationNs)/1e6)),
		TraceID: x.TraceID,
		TotalNs: x.DurationNs,
	}
	var keep []int
	for i, s := range x.Spans {
		if s.Detached {
			w.Hidden++
			continue
		}
		keep = append(keep, i)
	}
	if len(keep) > WaterfallRows {
		// Path spans first, then by duration; then back to tree order.
		byValue := slices.Clone(keep)
		slices.SortStableFunc(byValue, func(a, b int) int {
			sa, sb := &x.Spans[a], &x.Spans[b]
			onA, onB := sa.CriticalPathNs > 0, sb.CriticalPathNs > 0
			if onA != onB {
				if onA {
					return -1
				}
				return 1
			}
			return cmp.Compare(sb.DurationNs, sa.DurationNs)
		})
		w.Hidden += len(keep) - WaterfallRows
		keep = byValue[:WaterfallRows]
		slices.Sort(keep)
	}
	for _, i := range keep {
		s := &x.Spans[i]
		color, ok := colors[s.Stage]
		if !ok {
			color = OtherColor
		}
		w.Spans = append(w.Spans, WaterfallSpan{
			Label: s.Service + ": " + s.Operation, Stage: s.Stage, Color: color, Depth: s.Depth,
			StartNs: s.OffsetNs, EndNs: s.OffsetNs + s.DurationNs, Error: s.Error, Async: s.Async,
			Path: s.Slices, PathNs: s.CriticalPathNs,
		})
	}
	var parts []string
	for _, st := range x.Stages {
		if len(parts) == 3 || st.Share < 0.01 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", st.Stage, Duration(float64(st.CriticalPathNs)/1e6), Percent0(st.Share)))
	}
	if len(parts) > 0 {
		w.Caption = "On the critical path: " + strings.Join(parts, ", ") + "."
	}
	return w
}
