package analyze

import (
	"cmp"
	"slices"

	"github.com/trace-forensics/trace-forensics/model"
)

// This file is Jaeger's clock-skew adjuster (model/adjuster/clockskew.go),
// run on every trace before its statistics and critical path:
//
//   - Walking from the roots down, a child on another host than its parent
//     that does not fit inside the parent is shifted so that it sits centred
//     in it (network latency split evenly between request and response). A
//     child longer than its parent is only moved so that it does not start
//     before the parent. Spans on the child's host below it move with it.
//   - A shift larger than the maximum (--max-clock-skew) is not applied and
//     is counted; a maximum of 0 disables the adjustment.
//
// Where Jaeger knows the host from the process's "ip" tag, spans here carry
// no host: a span's host is the value of the first of DefaultHostKeys
// (host.name, host.id…) that its resource has, when the reader kept it, and
// otherwise its service, so a child in another service counts as another
// host (a service's replicas may share or not share a clock; the service is
// the best signal the model has left). Unlike Jaeger, asynchronous children
// (FOLLOWS_FROM, consumers of a producer) are never shifted: they may
// legitimately run outside their parent.

// DefaultHostKeys are the resource attributes that name the host a span ran
// on, for the clock-skew adjustment. Their values are compared, never shown.
var DefaultHostKeys = []string{"host.name", "host.id"}

// hostMap tells per shape which clock a span ran on.
type hostMap struct {
	svc  []uint32 // service index per shape
	host []uint32 // host value index + 1 per shape, 0 when unknown
}

func newHostMap(shapes []model.Shape, ops []model.Op, hostKeys []string) hostMap {
	h := hostMap{svc: make([]uint32, len(shapes)), host: make([]uint32, len(shapes))}
	svcs := map[string]uint32{}
	hosts := map[string]uint32{}
	for i := range shapes {
		name := ops[shapes[i].Op].Service
		id, ok := svcs[name]
		if !ok {
			id = uint32(len(svcs))
			svcs[name] = id
		}
		h.svc[i] = id
		for _, k := range hostKeys {
			if v, ok := shapes[i].Attr(k); ok && v != "" {
				id, ok := hosts[v]
				if !ok {
					id = uint32(len(hosts)) + 1
					hosts[v] = id
				}
				h.host[i] = id
				break
			}
		}
	}
	return h
}

// sameHost reports whether spans of shapes a and b share a clock.
func (h *hostMap) sameHost(a, b uint32) bool {
	if ha, hb := h.host[a], h.host[b]; ha != 0 && hb != 0 {
		return ha == hb
	}
	return h.svc[a] == h.svc[b]
}

// skewIssues counts what the adjustment did in one trace.
type skewIssues struct {
	adjusted, exceeded int
	// per span: the shift applied (adjusted) or refused (exceeded)
	shifts []skewShift
}

type skewShift struct {
	span    int32
	delta   int64
	applied bool
}

// adjustSkew shifts spans whose clocks disagree with their parents'. It
// returns true when any span moved; the children lists are then re-sorted
// by start time. delta is scratch of any length.
func (t *Trace) adjustSkew(maxSkew int64, hosts *hostMap, delta []int64, is *skewIssues) ([]int64, bool) {
	is.adjusted, is.exceeded, is.shifts = 0, 0, is.shifts[:0]
	if maxSkew <= 0 {
		return delta, false
	}
	spans := t.Spans
	if cap(delta) < len(spans) {
		delta = make([]int64, len(spans))
	}
	delta = delta[:len(spans)]
	moved := false
	for _, i := range t.Order {
		p := t.Parent[i]
		if p < 0 {
			delta[i] = 0
			continue
		}
		c, ps := &spans[i], &spans[p]
		switch {
		case hosts.sameHost(c.Shape, ps.Shape):
			delta[i] = delta[p]
		case !blocking(c, ps):
			delta[i] = 0
		default:
			d := skewOf(c, ps)
			if d != 0 && (d > maxSkew || d < -maxSkew) {
				is.exceeded++
				is.shifts = append(is.shifts, skewShift{i, d, false})
				d = 0
			}
			delta[i] = d
		}
		if d := delta[i]; d != 0 {
			c.Start += d
			c.End += d
			is.adjusted++
			is.shifts = append(is.shifts, skewShift{i, d, true})
			moved = true
		}
	}
	if moved {
		for i := range spans {
			kids := t.Children(int32(i))
			if len(kids) > 1 {
				slices.SortFunc(kids, func(a, b int32) int {
					if c := cmp.Compare(spans[a].Start, spans[b].Start); c != 0 {
						return c
					}
					return cmp.Compare(a, b)
				})
			}
		}
	}
	return delta, moved
}

// skewOf is Jaeger's calculateSkew: the shift that puts child c, as
// recorded, inside parent p, as already adjusted.
func skewOf(c, p *model.Span) int64 {
	pd, cd := p.Duration(), c.Duration()
	if cd > pd {
		// Async, or the parent timed out first: only make sure the child
		// does not start before its parent.
		if c.Start < p.Start {
			return p.Start - c.Start
		}
		return 0
	}
	if c.Start >= p.Start && c.End <= p.End {
		return 0
	}
	latency := (pd - cd) / 2
	return p.Start + latency - c.Start
}
