package analyze

import (
	"slices"

	"github.com/trace-forensics/trace-forensics/model"
)

// This file computes the critical path of a trace (ANALYSIS.md): the part of
// the request's end-to-end latency during which each span was the one being
// waited on, as time slices per span.
//
// The walk goes backwards from the root's end. Within a span it takes the
// child that finished last, gives the span the slice after that child's end,
// descends into the child and continues from the child's start with the
// child that finished last before that point; what is left before the first
// child is the span's own slice. CRISP's rules decide which children count:
//
//   - Only blocking children: a FOLLOWS_FROM child, or a CONSUMER child of a
//     PRODUCER, runs asynchronously and is off the path (with its subtree). A
//     span linked from elsewhere has no parent edge here, so links never put
//     work on the path either.
//   - A child that sticks out of its parent by at most 1 % of the parent's
//     duration on either side is taken as clock skew and shifted inside, with
//     its subtree (a server a little longer than its client is aligned with
//     the client's start and capped at its end); one that sticks out further
//     is clipped to the parent; one wholly outside it is dropped from the
//     path. Dropped and clipped spans keep their own statistics.
//   - Walking back, the next child joins the path when it ends no later than
//     the previous path child started plus 1 % of the parent's duration
//     (CRISP's skew allowance). The overlap is taken as skew: the child keeps
//     its full length, is shifted to end where the previous one starts, and
//     the parent's own time shrinks by the overlap. A child that overlaps
//     more, or that did not start before the previous one (it ran beside it,
//     not before it; CRISP does not check this), is off the path.
//   - Among children that end at the same time the longest is taken first
//     (then the lower span ID): it explains more of the wait.
//
// Every span's slices partition the part of its window that no path child
// covers, so the slices of a trace sum exactly to the root's duration.
// The walk is iterative (no recursion-depth limit) and sorts each path
// span's children once: O(n log n) in the spans of the trace.

// skewAllowance is CRISP's overlap allowance as a fraction: 1/100 of the
// parent's duration.
const skewAllowance = 100

// Slice is one piece of the critical path: span Span was waited on from
// From to To (nanoseconds, in the root's clock after skew shifts). After and
// Before are the path children that bound the slice (the one that ended just
// before it and the one that started just after it), or -1 for the start or
// end of the span itself.
type Slice struct {
	Span, After, Before int32
	From, To            int64
}

// cpIssues counts the adjustments the walk made in one trace.
type cpIssues struct {
	clipped, outside, shifted, overlaps int
	// first examples, as span indexes (child, parent), or -1
	clippedAt, outsideAt, shiftedAt, overlapAt [2]int32
}

func (is *cpIssues) reset() {
	*is = cpIssues{clippedAt: noPair, outsideAt: noPair, shiftedAt: noPair, overlapAt: noPair}
}

var noPair = [2]int32{-1, -1}

func note(n *int, at *[2]int32, child, parent int32) {
	if *n == 0 {
		*at = [2]int32{child, parent}
	}
	*n++
}

// cpWork is one span to walk: its offset (how far its own clock is shifted
// left of the root's), its extent after clipping and shifting, and the low
// end of its window on the path (the window's high end is the extent's end).
type cpWork struct {
	span   int32
	off    int64
	es, ee int64
	lo     int64
}

type cpCand struct {
	span   int32
	cs, ce int64
	off    int64
}

// cpScratch is reusable state for criticalPath.
type cpScratch struct {
	stack []cpWork
	cands []cpCand
}

// blocking reports whether the parent waited for child c: FOLLOWS_FROM
// children and consumers of a producer's message did not block it.
func blocking(c, p *model.Span) bool {
	if c.Flags&model.FlagFollowsFrom != 0 {
		return false
	}
	return !(c.Kind == model.KindConsumer && p.Kind == model.KindProducer)
}

// criticalPath computes the critical path under t.Root. cp[i] receives span
// i's critical-path time (0 for spans off the path); the own slices of the
// path spans are appended to slices, which is returned. A trace without a
// root has no path.
func (t *Trace) criticalPath(sc *cpScratch, cp []int64, slices_ []Slice, is *cpIssues) []Slice {
	clear(cp)
	is.reset()
	if t.Root < 0 {
		return slices_
	}
	spans := t.Spans
	r := &spans[t.Root]
	stack := append(sc.stack[:0], cpWork{span: t.Root, es: r.Start, ee: r.End, lo: r.Start})
	for len(stack) > 0 {
		w := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := &spans[w.span]
		dur := w.ee - w.es
		tol := dur / skewAllowance

		// The blocking children, clipped or shifted into the parent.
		cands := sc.cands[:0]
		for _, c := range t.Children(w.span) {
			cs := &spans[c]
			if !blocking(cs, p) {
				continue
			}
			s, e := cs.Start-w.off, cs.End-w.off
			shift := int64(0)
			switch {
			case s >= w.es && e <= w.ee:
			case s >= w.es-tol && e <= w.ee+tol:
				switch {
				case e-s > dur: // a server a little longer than its client
					shift = s - w.es
					s, e = w.es, min(e-shift, w.ee)
				case e > w.ee:
					shift = e - w.ee
					s, e = s-shift, w.ee
				default:
					shift = s - w.es // negative: moved later
					s, e = w.es, e-shift
				}
				note(&is.shifted, &is.shiftedAt, c, w.span)
			case s < w.ee && e > w.es:
				s, e = max(s, w.es), min(e, w.ee)
				note(&is.clipped, &is.clippedAt, c, w.span)
			default:
				note(&is.outside, &is.outsideAt, c, w.span)
				continue
			}
			cands = append(cands, cpCand{span: c, cs: s, ce: e, off: w.off + shift})
		}
		if len(cands) > 1 {
			before := func(a, b *cpCand) bool { // latest end first
				if a.ce != b.ce {
					return a.ce > b.ce
				}
				if a.cs != b.cs {
					return a.cs < b.cs
				}
				return spans[a.span].ID < spans[b.span].ID
			}
			if len(cands) <= smallSort {
				// Most parents have a few children: an insertion sort
				// with no calls beats the general one.
				for i := 1; i < len(cands); i++ {
					for j := i; j > 0 && before(&cands[j], &cands[j-1]); j-- {
						cands[j], cands[j-1] = cands[j-1], cands[j]
					}
				}
			} else {
				slices.SortFunc(cands, func(a, b cpCand) int {
					if before(&a, &b) {
						return -1
					}
					if before(&b, &a) {
						return 1
					}
					return 0
				})
			}
		}

		cur := w.ee
		lastStart := w.ee
		before := int32(-1) // the path child that starts after cur
		own := int64(0)
		for i := range cands {
			c := &cands[i]
			if cur <= w.lo || c.ce <= w.lo {
				break
			}
			if before >= 0 && c.ce > lastStart && (c.ce > lastStart+tol || c.cs >= lastStart) {
				continue // ran in parallel with the path child after it
			}
			sib := max(0, c.ce-cur)
			if sib > 0 {
				note(&is.overlaps, &is.overlapAt, c.span, w.span)
			}
			top := c.ce - sib
			if cur > top {
				own += cur - top
				slices_ = append(slices_, Slice{Span: w.span, After: c.span, Before: before, From: top, To: cur})
			}
			bot := max(w.lo, c.cs-sib)
			stack = append(stack, cpWork{span: c.span, off: c.off + sib, es: c.cs - sib, ee: top, lo: bot})
			lastStart = c.cs
			cur = bot
			before = c.span
		}
		if cur > w.lo {
			own += cur - w.lo
			slices_ = append(slices_, Slice{Span: w.span, After: -1, Before: before, From: w.lo, To: cur})
		}
		cp[w.span] += own
		sc.cands = cands[:0]
	}
	sc.stack = stack[:0]
	return slices_
}
