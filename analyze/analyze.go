package analyze

import (
	"cmp"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trace-forensics/trace-forensics/sources"
)

// DefaultPercentiles are reported when none are asked for.
var DefaultPercentiles = []float64{50, 95, 99}

// Options controls an analysis. The zero value analyses everything with the
// default percentiles.
type Options struct {
	Percentiles []float64
	Exemplars   int // slowest traces kept per figure; 0 means 5
	Filter      Filter
	// Release drops each partition of the dataset once it is analysed, so
	// memory falls as the analysis goes. The dataset is unusable afterwards.
	Release bool
	Workers int // 0 means GOMAXPROCS
}

// Filter selects what counts. Operation filters choose which operations are
// reported; request filters choose which traces count at all, judged on the
// request's root span.
type Filter struct {
	Services      []string       // report operations of these services only
	Operation     *regexp.Regexp // report operations whose span name matches
	RootServices  []string       // count requests whose root is in one of these services
	RootOperation *regexp.Regexp // count requests whose root span name matches
	Since, Until  time.Time      // count requests that started in [Since, Until)
	MinDuration   time.Duration  // count requests at least this long
}

func (f *Filter) requestFilter() bool {
	return len(f.RootServices) > 0 || f.RootOperation != nil || !f.Since.IsZero() || !f.Until.IsZero() || f.MinDuration > 0
}

// Result is everything a report shows. Every number in every output format
// comes from a field here, so formats never disagree.
type Result struct {
	Percentiles []float64
	TracesRead  int // traces assembled from the input
	Traces      int // traces that passed the request filters
	Spans       int // spans read
	Requests    RequestStats
	Operations  []OperationStats // by share of total self time, largest first
	TotalSelfNs int64
	Warnings    []sources.WarningCount
	Inputs      []sources.Input
	// Window spans the start times of the counted requests.
	WindowStart, WindowEnd time.Time
}

// RequestStats is the end-to-end latency of each counted trace's root span.
type RequestStats struct {
	Dist      Dist
	Summary   Summary
	Errors    int64
	Exemplars []string
}

// OperationStats are the figures of one operation (service + span name).
type OperationStats struct {
	Service, Operation string
	Count              int64
	DurationDist       Dist
	SelfDist           Dist
	Duration, Self     Summary
	Errors             int64
	ErrorRate          float64
	SelfShare          float64 // share of all operations' total self time
	Exemplars          []string
}

// Analyze computes the breakdown of a dataset. Traces are analysed on
// several goroutines, one partition of the dataset at a time.
func Analyze(ds *sources.Dataset, opt Options) (*Result, error) {
	if len(opt.Percentiles) == 0 {
		opt.Percentiles = DefaultPercentiles
	}
	for _, p := range opt.Percentiles {
		if !(p > 0 && p <= 100) {
			return nil, fmt.Errorf("percentile %v is not in (0, 100]", p)
		}
	}
	if opt.Exemplars <= 0 {
		opt.Exemplars = 5
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	shapes := ds.Catalog.Shapes()
	ops := ds.Catalog.Ops()
	opOK := make([]bool, len(ops))
	for i, op := range ops {
		opOK[i] = opt.Filter.keepOp(op)
	}

	ws := make([]*worker, workers)
	var next atomic.Int32
	var wg sync.WaitGroup
	for i := range ws {
		w := newWorker(ds, &opt, shapes, ops, opOK)
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1)) - 1
				if b >= sources.NumBuckets {
					return
				}
				w.bucket(ds.Bucket(b))
				if opt.Release {
					ds.Release(b)
				}
			}
		}()
	}
	wg.Wait()
	w := ws[0]
	for _, o := range ws[1:] {
		w.merge(o)
	}
	return w.result(ds), nil
}

func (f *Filter) keepOp(op sources.Op) bool {
	if len(f.Services) > 0 && !slices.Contains(f.Services, op.Service) {
		return false
	}
	return f.Operation == nil || f.Operation.MatchString(op.Name)
}

// worker analyses whole traces and accumulates their figures.
type worker struct {
	ds     *sources.Dataset
	opt    *Options
	shapes []sources.Shape
	ops    []sources.Op
	opOK   []bool

	opDur, opSelf []Dist
	opErr         []int64
	opSelfSum     []int64
	opMax         []int64 // per trace: the op's longest span, for exemplars
	touched       []int32

	req        Dist
	reqErr     int64
	traces     int
	tracesRead int
	minStart   int64
	maxStart   int64
	warn       sources.Warnings
	t          Trace
}

func newWorker(ds *sources.Dataset, opt *Options, shapes []sources.Shape, ops []sources.Op, opOK []bool) *worker {
	w := &worker{ds: ds, opt: opt, shapes: shapes, ops: ops, opOK: opOK,
		opDur: make([]Dist, len(ops)), opSelf: make([]Dist, len(ops)),
		opErr: make([]int64, len(ops)), opSelfSum: make([]int64, len(ops)), opMax: make([]int64, len(ops))}
	for i := range w.opDur {
		w.opDur[i].Exemplars.k = opt.Exemplars
	}
	w.req.Exemplars.k = opt.Exemplars
	for i := range w.opMax {
		w.opMax[i] = -1
	}
	return w
}

// bucket groups one partition's spans by trace and analyses each trace.
func (w *worker) bucket(slabs [][]sources.Span) {
	n := 0
	for _, s := range slabs {
		n += len(s)
	}
	if n == 0 {
		return
	}
	// Chain the spans of each trace: head[trace] is the last span seen,
	// next[i] the one before it. Positions run over the slabs in order.
	at := func(p int32) *sources.Span {
		for _, s := range slabs {
			if int(p) < len(s) {
				return &s[p]
			}
			p -= int32(len(s))
		}
		panic("span position out of range")
	}
	head := make(map[sources.TraceID]int32, n/8+1)
	next := make([]int32, n)
	p := int32(0)
	for _, s := range slabs {
		for i := range s {
			h, ok := head[s[i].Trace]
			if !ok {
				h = -1
			}
			next[p] = h
			head[s[i].Trace] = p
			p++
		}
	}
	uniform := true // every slab but the last is full: direct indexing
	for i, s := range slabs {
		if i < len(slabs)-1 && len(s) != cap(s) {
			uniform = false
		}
	}
	shift := 0
	if uniform {
		for c := cap(slabs[0]); c > 1; c >>= 1 {
			shift++
		}
		if cap(slabs[0]) != 1<<shift {
			uniform = false
		}
	}
	for id, h := range head {
		w.t.ID = id
		w.t.Spans = w.t.Spans[:0]
		for q := h; q >= 0; q = next[q] {
			if uniform {
				w.t.Spans = append(w.t.Spans, slabs[q>>shift][q&(1<<shift-1)])
			} else {
				w.t.Spans = append(w.t.Spans, *at(q))
			}
		}
		w.trace(&w.t)
	}
}

// trace analyses one assembled trace.
func (w *worker) trace(t *Trace) {
	is := t.assemble()
	w.tracesRead++
	id := w.ds.TraceText(t.ID)
	w.countIssues(t, id, is)

	if !w.countsAsRequest(t) {
		return
	}
	w.traces++
	for i := range t.Spans {
		s := &t.Spans[i]
		op := w.shapes[s.Shape].Op
		if !w.opOK[op] {
			continue
		}
		dur := s.Duration()
		self := t.SelfTime(int32(i))
		w.opDur[op].Record(dur)
		w.opSelf[op].Record(self)
		w.opSelfSum[op] += self
		if s.Flags&sources.FlagError != 0 {
			w.opErr[op]++
		}
		if w.opMax[op] < 0 {
			w.touched = append(w.touched, int32(op))
		}
		w.opMax[op] = max(w.opMax[op], dur)
	}
	for _, op := range w.touched {
		w.opDur[op].Exemplars.offer(w.opMax[op], t.ID)
		w.opMax[op] = -1
	}
	w.touched = w.touched[:0]

	if t.Root >= 0 {
		r := &t.Spans[t.Root]
		w.req.Record(r.Duration())
		w.req.Exemplars.offer(r.Duration(), t.ID)
		if r.Flags&sources.FlagError != 0 {
			w.reqErr++
		}
		if w.req.Count == 1 || r.Start < w.minStart {
			w.minStart = r.Start
		}
		if w.req.Count == 1 || r.Start > w.maxStart {
			w.maxStart = r.Start
		}
	}
}

// countsAsRequest applies the request filters to the trace's root span.
func (w *worker) countsAsRequest(t *Trace) bool {
	f := &w.opt.Filter
	if !f.requestFilter() {
		return true
	}
	if t.Root < 0 {
		return false
	}
	r := &t.Spans[t.Root]
	op := w.ops[w.shapes[r.Shape].Op]
	if len(f.RootServices) > 0 && !slices.Contains(f.RootServices, op.Service) {
		return false
	}
	if f.RootOperation != nil && !f.RootOperation.MatchString(op.Name) {
		return false
	}
	if !f.Since.IsZero() && r.Start < f.Since.UnixNano() {
		return false
	}
	if !f.Until.IsZero() && r.Start >= f.Until.UnixNano() {
		return false
	}
	return r.Duration() >= int64(f.MinDuration)
}

func (w *worker) countIssues(t *Trace, id string, is traceIssues) {
	if is.duplicates > 0 {
		w.warn.AddKeyed(sources.WarnDuplicateSpanID, is.duplicates, id, func() string {
			return fmt.Sprintf("trace %s: %d span(s) repeat an ID already seen in the trace; the later copies are ignored", id, is.duplicates)
		})
	}
	if is.orphans > 0 {
		w.warn.AddKeyed(sources.WarnOrphanSpan, is.orphans, id, func() string {
			for i := range t.Spans {
				if t.Orphan[i] {
					return fmt.Sprintf("trace %s: span %s names parent %s, which is not in the trace", id, t.Spans[i].ID, t.Spans[i].Parent)
				}
			}
			return "trace " + id
		})
	}
	if is.cycles > 0 {
		w.warn.AddKeyed(sources.WarnParentCycle, is.cycles, id, func() string {
			return fmt.Sprintf("trace %s: parent references form a cycle; it was cut to make a tree", id)
		})
	}
	if is.multipleRoots {
		w.warn.AddKeyed(sources.WarnMultipleRoots, 1, id, func() string {
			return fmt.Sprintf("trace %s: several spans have no parent; the longest is taken as the request", id)
		})
	}
	if is.noRoot {
		w.warn.AddKeyed(sources.WarnNoRoot, 1, id, func() string {
			return fmt.Sprintf("trace %s: no span without a parent (partial trace?); it counts for operations but not as a request", id)
		})
	}
}

func (w *worker) merge(o *worker) {
	for i := range w.opDur {
		w.opDur[i].Merge(&o.opDur[i])
		w.opSelf[i].Merge(&o.opSelf[i])
		w.opErr[i] += o.opErr[i]
		w.opSelfSum[i] += o.opSelfSum[i]
	}
	if o.req.Count > 0 {
		if w.req.Count == 0 || o.minStart < w.minStart {
			w.minStart = o.minStart
		}
		if w.req.Count == 0 || o.maxStart > w.maxStart {
			w.maxStart = o.maxStart
		}
	}
	w.req.Merge(&o.req)
	w.reqErr += o.reqErr
	w.traces += o.traces
	w.tracesRead += o.tracesRead
	w.warn.Merge(&o.warn)
}

func (w *worker) result(ds *sources.Dataset) *Result {
	pct := w.opt.Percentiles
	text := ds.TraceText
	r := &Result{
		Percentiles: pct,
		TracesRead:  w.tracesRead,
		Traces:      w.traces,
		Spans:       ds.Spans,
		Inputs:      ds.Inputs,
	}
	r.Requests = RequestStats{Dist: w.req, Summary: w.req.Summarize(pct), Errors: w.reqErr, Exemplars: w.req.Exemplars.ids(text)}
	if w.req.Count > 0 {
		r.WindowStart = time.Unix(0, w.minStart).UTC()
		r.WindowEnd = time.Unix(0, w.maxStart).UTC()
	}
	var over int64
	for i := range w.opDur {
		r.TotalSelfNs += w.opSelfSum[i]
		over += w.opDur[i].OverRange + w.opSelf[i].OverRange
	}
	over += w.req.OverRange
	for i, op := range w.ops {
		d := &w.opDur[i]
		if d.Count == 0 {
			continue
		}
		os := OperationStats{
			Service: op.Service, Operation: op.Name, Count: d.Count,
			DurationDist: *d, SelfDist: w.opSelf[i],
			Duration: d.Summarize(pct), Self: w.opSelf[i].Summarize(pct),
			Errors: w.opErr[i], ErrorRate: float64(w.opErr[i]) / float64(d.Count),
			Exemplars: d.Exemplars.ids(text),
		}
		if r.TotalSelfNs > 0 {
			os.SelfShare = float64(w.opSelfSum[i]) / float64(r.TotalSelfNs)
		}
		r.Operations = append(r.Operations, os)
	}
	slices.SortStableFunc(r.Operations, func(a, b OperationStats) int {
		if c := cmp.Compare(b.SelfShare, a.SelfShare); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Operation, b.Operation)
	})
	var warn sources.Warnings
	warn.Merge(&ds.Warnings)
	warn.Merge(&w.warn)
	if over > 0 {
		warn.AddKeyed(sources.WarnOverRange, int(over), "", func() string {
			return "values longer than 1h were recorded as 1h in the histograms; max and mean stay exact"
		})
	}
	r.Warnings = warn.List()
	return r
}
