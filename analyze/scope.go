package analyze

import "github.com/trace-forensics/trace-forensics/model"

// scope accumulates the figures of one set of requests: all of them, or
// one group of --group-by. Workers each have their own and merge them at
// the end; histograms exist only for figures that get values (Dist).
type scope struct {
	req      Dist
	reqErr   int64
	totalNs  int64 // sum of the requests' durations
	untraced Dist  // per request: untraced time on the critical path
	untSum   int64
	minStart int64
	maxStart int64
	// Per operation and per stage ID, allocated on first use: most stage
	// IDs (the fallback stage of an operation a rule catches) never are.
	ops       []*opAcc
	stages    []*stageAcc
	exemplars int
}

// opAcc is one operation. Duration and self time are per span; critical
// path and untraced time per request (the sum over the op's spans).
type opAcc struct {
	dur, self, cp, unt Dist
	errs               int64
	selfSum            int64
	cpSum, untSum      int64
	requests           int64 // requests with a span of the op
	parentRequests     int64 // requests where one of its spans had children
}

// stageAcc is one stage, per request: critical path, self (summed over the
// stage's spans), duration (wall-clock time some span of the stage was
// open) and untraced time (own critical-path time of its spans that have
// children).
type stageAcc struct {
	cp, self, dur, unt Dist
	requests           int64
	parentRequests     int64
	spans              int64
	countMax           int64
	cpSum, selfSum     int64
	untSum             int64
}

func newScope(nOps, nStages, exemplars int) *scope {
	s := &scope{ops: make([]*opAcc, nOps), stages: make([]*stageAcc, nStages), exemplars: exemplars}
	s.req.Exemplars.k = exemplars
	return s
}

// op returns operation i's figures, creating them on first use.
func (s *scope) op(i uint32) *opAcc {
	a := s.ops[i]
	if a == nil {
		a = &opAcc{}
		a.dur.Exemplars.k = s.exemplars
		s.ops[i] = a
	}
	return a
}

// stage returns stage i's figures, creating them on first use.
func (s *scope) stage(i int32) *stageAcc {
	a := s.stages[i]
	if a == nil {
		a = &stageAcc{}
		a.cp.Exemplars.k = s.exemplars
		s.stages[i] = a
	}
	return a
}

func (s *scope) merge(o *scope) {
	if o.req.Count > 0 {
		if s.req.Count == 0 || o.minStart < s.minStart {
			s.minStart = o.minStart
		}
		if s.req.Count == 0 || o.maxStart > s.maxStart {
			s.maxStart = o.maxStart
		}
	}
	s.req.Merge(&o.req)
	s.reqErr += o.reqErr
	s.totalNs += o.totalNs
	s.untraced.Merge(&o.untraced)
	s.untSum += o.untSum
	for i, b := range o.ops {
		if b == nil {
			continue
		}
		a := s.ops[i]
		if a == nil {
			s.ops[i] = b
			continue
		}
		a.dur.Merge(&b.dur)
		a.self.Merge(&b.self)
		a.cp.Merge(&b.cp)
		a.unt.Merge(&b.unt)
		a.errs += b.errs
		a.selfSum += b.selfSum
		a.cpSum += b.cpSum
		a.untSum += b.untSum
		a.requests += b.requests
		a.parentRequests += b.parentRequests
	}
	for i, b := range o.stages {
		if b == nil {
			continue
		}
		a := s.stages[i]
		if a == nil {
			s.stages[i] = b
			continue
		}
		a.cp.Merge(&b.cp)
		a.self.Merge(&b.self)
		a.dur.Merge(&b.dur)
		a.unt.Merge(&b.unt)
		a.requests += b.requests
		a.parentRequests += b.parentRequests
		a.spans += b.spans
		a.countMax = max(a.countMax, b.countMax)
		a.cpSum += b.cpSum
		a.selfSum += b.selfSum
		a.untSum += b.untSum
	}
}

// request records one request's end-to-end figures.
func (s *scope) request(r *model.Span, id model.TraceID, untraced int64) {
	d := r.Duration()
	s.req.Record(d)
	s.req.Exemplars.offer(d, &id)
	if r.Flags&model.FlagError != 0 {
		s.reqErr++
	}
	if s.req.Count == 1 || r.Start < s.minStart {
		s.minStart = r.Start
	}
	if s.req.Count == 1 || r.Start > s.maxStart {
		s.maxStart = r.Start
	}
	s.totalNs += d
	s.untraced.Record(untraced)
	s.untSum += untraced
}
