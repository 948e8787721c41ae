package analyze

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
)

// DefaultPercentiles are reported when none are asked for.
var DefaultPercentiles = []float64{50, 95, 99}

// DefaultMaxClockSkew is the largest clock-skew shift applied when Options
// leave it at 0. Skew between hosts is usually milliseconds; a larger gap
// between a child and its parent is more likely async work or a wrong
// parent than a clock, and is left to the critical path's clipping.
const DefaultMaxClockSkew = time.Second

// DefaultMaxGroups is the most distinct values --group-by accepts: groups
// are for low-cardinality keys (a prompt version, a model).
const DefaultMaxGroups = 50

// Options controls an analysis. The zero value analyses everything with the
// default percentiles, the built-in stage rules and clock-skew adjustment
// up to DefaultMaxClockSkew.
type Options struct {
	Percentiles []float64
	Exemplars   int // slowest traces kept per figure; 0 means 5
	Filter      Filter
	// Release drops each partition of the dataset once it is analysed, so
	// memory falls as the analysis goes. The dataset is unusable afterwards.
	Release bool
	Workers int // 0 means GOMAXPROCS
	// Stages maps spans to stages; nil means DefaultStageRules.
	Stages *StageRules
	// MaxClockSkew caps the clock-skew adjustment: 0 means
	// DefaultMaxClockSkew, a negative value turns the adjustment off.
	MaxClockSkew time.Duration
	// HostKeys are the attributes that name a span's host for the skew
	// adjustment; nil means DefaultHostKeys. Only kept values are seen.
	HostKeys []string
	// GroupBy gives the breakdown per value of this attribute key, read
	// from the request's root span or else the first span of the trace
	// that has it. Its values must be kept by the reader.
	GroupBy   string
	MaxGroups int // 0 means DefaultMaxGroups
	// RuleUsage fills Result.Rules and Result.Unmatched.
	RuleUsage bool
}

// Filter selects what counts. Operation filters choose which operations are
// reported; request filters choose which traces count at all, judged on the
// request's root span. Stages and coverage always describe whole requests.
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
	Warnings    []model.WarningCount
	Inputs      []model.Input
	// Window spans the start times of the counted requests.
	WindowStart, WindowEnd time.Time

	// TotalRequestNs is the summed end-to-end latency of the counted
	// requests: the whole that critical-path shares divide.
	TotalRequestNs int64
	// Stages are the stages that occur in the requests, by share of the
	// end-to-end latency, largest first.
	Stages []StageStats
	// Bands are the stage breakdown of the requests in each latency band
	// (tail anatomy): the first MaxSideStages of Stages, in that order, and
	// OtherStages for the rest when there are more.
	Bands []BandStats
	// GroupBy and Groups: the breakdown per value of Options.GroupBy; their
	// stages are the first MaxSideStages of Stages, in that order.
	GroupBy string
	Groups  []GroupStats
	// Coverage is where the critical path runs through time no child span
	// explains.
	Coverage Coverage
	// MaxClockSkewNs is the skew adjustment's cap (0: off); ClockSkew
	// counts the adjustments per service.
	MaxClockSkewNs int64
	ClockSkew      []SkewStats
	// Rules and Unmatched (with Options.RuleUsage): which operations each
	// stage rule caught, and those no rule did.
	Rules     []RuleUsage
	Unmatched []OpCount
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

	// Stage is the stage most of the operation's spans belong to.
	Stage string
	// Requests counts the requests with a span of the operation.
	Requests int64
	// CriticalPath is per request, over all counted requests (0 where the
	// operation does not occur): the sum of its spans' critical-path time.
	CriticalPathDist  Dist
	CriticalPath      Summary
	CriticalPathShare float64   // total critical-path time / TotalRequestNs
	ShareOfRequest    []float64 // per percentile: critical-path quantile / request quantile
}

// StageStats are the figures of one stage, per request over all counted
// requests (0 where the stage does not occur).
type StageStats struct {
	Stage string
	Named bool // defined by a rule; else the service/operation of unmatched spans
	// Requests counts the requests in which the stage has spans.
	Requests int64
	// CriticalPath: the stage's spans' critical-path time; Self: their
	// summed self time; Duration: wall-clock time any of them was open;
	// Untraced: the own critical-path time of its spans that have children.
	CriticalPathDist, SelfDist, DurationDist, UntracedDist Dist
	CriticalPath, Self, Duration, Untraced                 Summary
	Share                                                  float64   // total critical-path time / all requests' latency
	ShareOfRequest                                         []float64 // per percentile: critical-path quantile / request quantile
	UntracedShare                                          float64
	UntracedShareOfRequest                                 []float64 // per percentile: untraced quantile / request quantile
	// CountMean and CountMax: spans of the stage per request where it occurs.
	CountMean float64
	CountMax  int64
	Exemplars []string // the requests where the stage took longest on the path
}

// BandStats is the stage breakdown of the requests whose end-to-end latency
// falls between two percentiles. Its stages carry critical-path figures
// only (CriticalPath, Share, ShareOfRequest, Requests); their self,
// duration and untraced figures are left at zero.
type BandStats struct {
	Name             string  // "p0-p50"
	From, To         float64 // percentiles
	LowNs, HighNs    int64   // latency range: (LowNs, HighNs]
	Requests         Summary
	RequestsDist     Dist
	TotalRequestNs   int64
	Stages           []StageStats
	ShareOfLatency   float64 // of all requests' latency
	ShareOfRequests  float64
	UntracedShare    float64
	UntracedRequests Summary
}

// GroupStats is the breakdown of the requests with one value of the
// grouping key.
type GroupStats struct {
	Key, Value     string
	Missing        bool // the traces that do not have the key
	Requests       RequestStats
	TotalRequestNs int64
	Stages         []StageStats
	Operations     []OperationStats
}

// Coverage says where the critical path runs through time that no child
// span explains: a parent's own time on the path (ANALYSIS.md).
type Coverage struct {
	UntracedShare float64 // of all requests' latency
	UntracedDist  Dist    // per request
	Untraced      Summary
	// ShareOfRequest: per percentile, untraced quantile / request quantile.
	ShareOfRequest []float64
	Operations     []UntracedOp
	// MissingStages are the stages the rules name that no span fell in.
	MissingStages []string
}

// UntracedOp is the untraced time inside one parent operation.
type UntracedOp struct {
	Service, Operation, Stage string
	Requests                  int64 // requests where the operation had children
	Dist                      Dist  // per request, over all requests
	Summary                   Summary
	Share                     float64
	ShareOfRequest            []float64
	// Gap is where inside the operation most of it lies: between which
	// children.
	Gap Gap
}

// Gap locates untraced time between two children of a parent: After is the
// child that ended before it, Before the one that started after it ("" for
// the parent's own start or end).
type Gap struct {
	After, AfterStage   string
	Before, BeforeStage string
	Share               float64 // of all requests' latency
}

// SkewStats counts the clock-skew adjustments of one service's spans.
type SkewStats struct {
	Service    string
	Adjusted   int64 // spans shifted
	Exceeded   int64 // shifts refused for being over the maximum
	MaxShiftNs int64 // the largest shift applied, in absolute value
}

// RuleUsage is one stage rule and the operations it caught.
type RuleUsage struct {
	Index      int // position in the rule list, from 1
	Stage      string
	Conditions string
	Origin     string
	Matched    []OpCount // spans the rule matched
	Inherited  []OpCount // spans that took its stage from above
}

// OpCount is an operation with a number of spans.
type OpCount struct {
	Service, Operation string
	Spans              int64
}

// Warning kinds of the analysis. Each is counted, with an example.
const (
	WarnChildClipped    = "child_clipped"        // a child sticks out of its parent: clipped for the critical path
	WarnChildOutside    = "child_outside_parent" // a child lies wholly outside its parent: off the critical path
	WarnChildShifted    = "child_skew_shifted"   // a child sticks out by ≤1 % of its parent: shifted inside as skew
	WarnSiblingOverlap  = "sibling_overlap"      // path siblings overlap by ≤1 % of the parent: taken as skew
	WarnClockSkew       = "clock_skew_adjusted"  // a span on another host moved into its parent
	WarnClockSkewOver   = "clock_skew_over_max"  // a needed shift was over --max-clock-skew: not applied
	WarnGroupKeyMissing = "group_key_missing"    // requests without the --group-by key
)

// Analyze computes the breakdown of a dataset. Traces are analysed on
// several goroutines, one partition of the dataset at a time.
func Analyze(ds *model.Dataset, opt Options) (*Result, error) {
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
	env, err := newEnv(ds, &opt)
	if err != nil {
		return nil, err
	}

	ws := make([]*worker, workers)
	var next atomic.Int32
	var wg sync.WaitGroup
	for i := range ws {
		w := newWorker(env)
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1)) - 1
				if b >= model.NumBuckets {
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
	return w.result(ws), nil
}

// env is what every worker shares: the dataset's names and the rules
// applied to them.
type env struct {
	ds       *model.Dataset
	opt      *Options
	shapes   []model.Shape
	ops      []model.Op
	opOK     []bool
	shapeOp  []uint32
	stages   *stageMap
	hosts    hostMap
	services []string // by hostMap.svc index
	maxSkew  int64
	groupVal []int32  // per shape: group index of its value, or -1
	groups   []string // group values by index; index len(groups) is "missing"
}

func newEnv(ds *model.Dataset, opt *Options) (*env, error) {
	e := &env{ds: ds, opt: opt, shapes: ds.Catalog.Shapes(), ops: ds.Catalog.Ops()}
	e.opOK = make([]bool, len(e.ops))
	for i, op := range e.ops {
		e.opOK[i] = opt.Filter.keepOp(op)
	}
	e.shapeOp = make([]uint32, len(e.shapes))
	for i := range e.shapes {
		e.shapeOp[i] = e.shapes[i].Op
	}
	e.stages = newStageMap(opt.Stages, e.shapes, e.ops)
	hk := opt.HostKeys
	if hk == nil {
		hk = DefaultHostKeys
	}
	e.hosts = newHostMap(e.shapes, e.ops, hk)
	e.services = make([]string, 0)
	for i := range e.shapes {
		id := int(e.hosts.svc[i])
		for len(e.services) <= id {
			e.services = append(e.services, "")
		}
		e.services[id] = e.ops[e.shapes[i].Op].Service
	}
	switch {
	case opt.MaxClockSkew == 0:
		e.maxSkew = int64(DefaultMaxClockSkew)
	case opt.MaxClockSkew > 0:
		e.maxSkew = int64(opt.MaxClockSkew)
	}
	if opt.GroupBy != "" {
		idx := map[string]int32{}
		e.groupVal = make([]int32, len(e.shapes))
		for i := range e.shapes {
			e.groupVal[i] = -1
			if v, ok := e.shapes[i].Attr(opt.GroupBy); ok {
				g, seen := idx[v]
				if !seen {
					g = int32(len(e.groups))
					idx[v] = g
					e.groups = append(e.groups, v)
				}
				e.groupVal[i] = g
			}
		}
		limit := opt.MaxGroups
		if limit <= 0 {
			limit = DefaultMaxGroups
		}
		if len(e.groups) > limit {
			return nil, fmt.Errorf("--group-by %s: %d distinct values, more than %d: grouping is for keys with few values (a prompt version, a model)", opt.GroupBy, len(e.groups), limit)
		}
	}
	return e, nil
}

func (f *Filter) keepOp(op model.Op) bool {
	if len(f.Services) > 0 && !slices.Contains(f.Services, op.Service) {
		return false
	}
	return f.Operation == nil || f.Operation.MatchString(op.Name)
}

// worker analyses whole traces and accumulates their figures.
type worker struct {
	*env
	slots, next []int32 // grouping scratch, reused from partition to partition
	top         *scope
	groups      []*scope // by group index; the last is "missing"; nil until used
	log         requestLog

	traces     int
	tracesRead int
	noGroupKey int
	warn       model.Warnings
	skew       []SkewStats      // by service index
	gaps       sums             // by packed gapKey
	gapsWide   map[gapKey]int64 // when there are too many operations to pack
	ruleUse    map[ruleOp]int64
	opStage    [][]stageCount // per op: the stages of its spans

	t  Trace
	f  facts
	pr perRequest
}

type gapKey struct{ parent, after, before int32 } // ops; -1 for the parent's start or end

// gapBits is how many bits each operation index takes in a packed gapKey.
const gapBits = 21

func (k gapKey) pack() (uint64, bool) {
	const limit = 1<<gapBits - 1
	if k.parent+1 >= limit || k.after+1 >= limit || k.before+1 >= limit {
		return 0, false
	}
	return uint64(k.parent+1)<<(2*gapBits) | uint64(k.after+1)<<gapBits | uint64(k.before+1), true
}

func unpackGap(p uint64) gapKey {
	const m = 1<<gapBits - 1
	return gapKey{int32(p>>(2*gapBits)&m) - 1, int32(p>>gapBits&m) - 1, int32(p&m) - 1}
}

type ruleOp struct {
	rule int32 // rule outcome, see stageMap.assign
	op   uint32
}

type stageCount struct {
	stage int32
	n     int64
}

func newWorker(e *env) *worker {
	w := &worker{env: e, gapsWide: map[gapKey]int64{}}
	w.top = newScope(len(e.ops), e.stages.numStages(), e.opt.Exemplars)
	if e.opt.GroupBy != "" {
		w.groups = make([]*scope, len(e.groups)+1)
	}
	w.skew = make([]SkewStats, len(e.services))
	if e.opt.RuleUsage {
		w.ruleUse = map[ruleOp]int64{}
	}
	w.opStage = make([][]stageCount, len(e.ops))
	w.pr.init(len(e.ops), e.stages.numStages())
	return w
}

// bucket groups one partition's spans by trace and analyses each trace.
func (w *worker) bucket(slabs [][]model.Span) {
	n := 0
	for _, s := range slabs {
		n += len(s)
	}
	if n == 0 {
		return
	}
	// Spans are addressed by position over the slabs; every slab but the
	// last is full and a power of two long (the store's layout), which makes
	// that a shift and a mask, with a slow path for any other layout.
	uniform, shift := true, 0
	for c := cap(slabs[0]); c > 1; c >>= 1 {
		shift++
	}
	for i, s := range slabs {
		if cap(s) != 1<<shift || i < len(slabs)-1 && len(s) != cap(s) {
			uniform = false
		}
	}
	at := func(p int32) *model.Span {
		if uniform {
			return &slabs[p>>shift][p&(1<<shift-1)]
		}
		for _, s := range slabs {
			if int(p) < len(s) {
				return &s[p]
			}
			p -= int32(len(s))
		}
		panic("span position out of range")
	}

	// Chain the spans of each trace: an open-addressing table keyed by
	// trace ID holds the last span seen of each trace, next[p] the one
	// before it. Slots are visited in table order, so traces come out in
	// the same order on every run.
	size := 1
	for size < 2*n {
		size <<= 1
	}
	mask := uint64(size - 1)
	if cap(w.slots) < size {
		w.slots = make([]int32, size)
	}
	slots := w.slots[:size]
	for i := range slots {
		slots[i] = -1
	}
	if cap(w.next) < n {
		w.next = make([]int32, n)
	}
	next := w.next[:n]
	p := int32(0)
	for _, s := range slabs {
		for i := range s {
			id := &s[i].Trace
			h := traceHash(id) & mask
			for slots[h] >= 0 && at(slots[h]).Trace != *id {
				h = (h + 1) & mask
			}
			next[p] = slots[h]
			slots[h] = p
			p++
		}
	}
	for _, h := range slots {
		if h < 0 {
			continue
		}
		w.t.ID = at(h).Trace
		// The chain runs from the last span read to the first; filled from
		// the end, the spans keep the order they were read in, which is
		// close to start order and leaves sortSpans little to do.
		k := 0
		for q := h; q >= 0; q = next[q] {
			k++
		}
		w.t.Spans = slices.Grow(w.t.Spans[:0], k)[:k]
		for q := h; q >= 0; q = next[q] {
			k--
			w.t.Spans[k] = *at(q)
		}
		w.trace(&w.t)
	}
}

// traceHash mixes a trace ID for the grouping table. Partitions were chosen
// by the top bits of a different mix, so these bits still vary.
func traceHash(t *model.TraceID) uint64 {
	lo := binary.LittleEndian.Uint64(t[8:])
	hi := binary.LittleEndian.Uint64(t[:8])
	x := lo ^ bits.RotateLeft64(hi, 29)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

// facts are the per-span results of one trace, reused from trace to trace.
type facts struct {
	stage, rule, carrier []int32
	self, cp             []int64
	delta                []int64
	slices               []Slice
	byStart              []int32
	cps                  cpScratch
	cpi                  cpIssues
	sk                   skewIssues
	moved                bool
}

func (f *facts) grow(n int) {
	if cap(f.stage) < n {
		f.stage, f.rule, f.carrier = make([]int32, n), make([]int32, n), make([]int32, n)
		f.self, f.cp = make([]int64, n), make([]int64, n)
	}
	f.stage, f.rule, f.carrier = f.stage[:n], f.rule[:n], f.carrier[:n]
	f.self, f.cp = f.self[:n], f.cp[:n]
}

// analyse computes the facts of an assembled trace: skew, stages, self
// times and the critical path.
func (e *env) analyse(t *Trace, f *facts) {
	f.grow(len(t.Spans))
	f.delta, f.moved = t.adjustSkew(e.maxSkew, &e.hosts, f.delta, &f.sk)
	e.stages.assign(t, func(s uint32) uint32 { return e.shapeOp[s] }, f.stage, f.rule, f.carrier)
	for i := range t.Spans {
		f.self[i] = t.SelfTime(int32(i))
	}
	f.slices = t.criticalPath(&f.cps, f.cp, f.slices[:0], &f.cpi)
}

// trace analyses one trace.
func (w *worker) trace(t *Trace) {
	is := t.assemble()
	w.tracesRead++
	var id string // the trace's ID as text, made only for a warning
	if is != (traceIssues{}) {
		id = w.ds.TraceText(t.ID)
		w.countIssues(t, id, is)
	}
	if !w.countsAsRequest(t) {
		return
	}
	w.traces++
	w.analyse(t, &w.f)
	if f := &w.f; f.sk.adjusted+f.sk.exceeded+f.cpi.clipped+f.cpi.outside+f.cpi.shifted+f.cpi.overlaps > 0 {
		if id == "" {
			id = w.ds.TraceText(t.ID)
		}
		w.countAdjustments(t, id)
	}
	w.accumulate(t)
}

// perRequest sums one request's figures per operation and per stage.
type perRequest struct {
	opTouched []int32
	opSeen    []bool
	opCP      []int64
	opUnt     []int64
	opParent  []bool
	opMax     []int64
	stTouched []int32
	stSeen    []bool
	stCP      []int64
	stSelf    []int64
	stUnt     []int64
	stCount   []int64
	stParent  []bool
	stOpen    []bool
	stFrom    []int64
	stTo      []int64
	stCover   []int64
}

func (p *perRequest) init(nOps, nStages int) {
	p.opSeen, p.opParent = make([]bool, nOps), make([]bool, nOps)
	p.opCP, p.opUnt, p.opMax = make([]int64, nOps), make([]int64, nOps), make([]int64, nOps)
	p.stSeen, p.stParent, p.stOpen = make([]bool, nStages), make([]bool, nStages), make([]bool, nStages)
	p.stCP, p.stSelf, p.stUnt, p.stCount = make([]int64, nStages), make([]int64, nStages), make([]int64, nStages), make([]int64, nStages)
	p.stFrom, p.stTo, p.stCover = make([]int64, nStages), make([]int64, nStages), make([]int64, nStages)
}

// accumulate adds an analysed trace to the worker's scopes.
func (w *worker) accumulate(t *Trace) {
	f, pr := &w.f, &w.pr
	scopes := [2]*scope{w.top, w.groupScope(t)}
	hasRoot := t.Root >= 0

	for i := range t.Spans {
		s := &t.Spans[i]
		op := w.shapeOp[s.Shape]
		st := f.stage[i]
		parent := t.KidStart[i+1] > t.KidStart[i]
		if w.opOK[op] {
			dur, self := s.Duration(), f.self[i]
			for _, sc := range scopes {
				if sc == nil {
					continue
				}
				oa := sc.op(op)
				oa.dur.Record(dur)
				oa.self.Record(self)
				oa.selfSum += self
				if s.Flags&model.FlagError != 0 {
					oa.errs++
				}
			}
			w.countOpStage(op, st)
		}
		if !pr.opSeen[op] {
			pr.opSeen[op] = true
			pr.opTouched = append(pr.opTouched, int32(op))
			pr.opCP[op], pr.opUnt[op], pr.opParent[op], pr.opMax[op] = 0, 0, false, 0
		}
		pr.opCP[op] += f.cp[i]
		pr.opMax[op] = max(pr.opMax[op], s.Duration())
		if !pr.stSeen[st] {
			pr.stSeen[st] = true
			pr.stTouched = append(pr.stTouched, st)
			pr.stCP[st], pr.stSelf[st], pr.stUnt[st], pr.stCount[st], pr.stParent[st] = 0, 0, 0, 0, false
			pr.stOpen[st], pr.stCover[st] = false, 0
		}
		pr.stCP[st] += f.cp[i]
		pr.stSelf[st] += f.self[i]
		pr.stCount[st]++
		if parent {
			pr.opUnt[op] += f.cp[i]
			pr.opParent[op] = true
			pr.stUnt[st] += f.cp[i]
			pr.stParent[st] = true
		}
		if w.ruleUse != nil {
			w.ruleUse[ruleOp{f.rule[i], op}]++
		}
	}
	w.stageUnion(t)

	var untraced int64
	if hasRoot {
		r := &t.Spans[t.Root]
		for _, st := range pr.stTouched {
			untraced += pr.stUnt[st]
		}
		for _, sc := range scopes {
			if sc != nil {
				sc.request(r, t.ID, untraced)
			}
		}
		w.gapsOf(t)
	}
	for _, op := range pr.opTouched {
		pr.opSeen[op] = false
		for _, sc := range scopes {
			if sc == nil {
				continue
			}
			oa := sc.op(uint32(op))
			if w.opOK[op] {
				oa.dur.Exemplars.offer(pr.opMax[op], &t.ID)
			}
			if !hasRoot {
				continue
			}
			if w.opOK[op] {
				oa.cp.Record(pr.opCP[op])
				oa.cpSum += pr.opCP[op]
				oa.requests++
			}
			if pr.opParent[op] {
				oa.unt.Record(pr.opUnt[op])
				oa.untSum += pr.opUnt[op]
				oa.parentRequests++
			}
		}
	}
	pr.opTouched = pr.opTouched[:0]
	if hasRoot {
		for _, st := range pr.stTouched {
			for _, sc := range scopes {
				if sc == nil {
					continue
				}
				sa := sc.stage(st)
				sa.cp.Record(pr.stCP[st])
				sa.cp.Exemplars.offer(pr.stCP[st], &t.ID)
				sa.self.Record(pr.stSelf[st])
				sa.dur.Record(pr.stCover[st])
				sa.cpSum += pr.stCP[st]
				sa.selfSum += pr.stSelf[st]
				sa.requests++
				sa.spans += pr.stCount[st]
				sa.countMax = max(sa.countMax, pr.stCount[st])
				if pr.stParent[st] {
					sa.unt.Record(pr.stUnt[st])
					sa.untSum += pr.stUnt[st]
					sa.parentRequests++
				}
			}
		}
		w.log.add(t.Spans[t.Root].Duration(), untraced, pr.stTouched, pr.stCP)
	}
	for _, st := range pr.stTouched {
		pr.stSeen[st] = false
	}
	pr.stTouched = pr.stTouched[:0]
}

// stageUnion sets stCover to the wall-clock time during which some span of
// each stage was open, walking the spans in start order.
func (w *worker) stageUnion(t *Trace) {
	f, pr := &w.f, &w.pr
	order := f.byStart[:0]
	for i := range t.Spans {
		order = append(order, int32(i))
	}
	if f.moved { // skew shifts broke the start order
		slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(t.Spans[a].Start, t.Spans[b].Start) })
	}
	f.byStart = order
	for _, i := range order {
		s := &t.Spans[i]
		st := f.stage[i]
		switch {
		case !pr.stOpen[st]:
			pr.stOpen[st], pr.stFrom[st], pr.stTo[st] = true, s.Start, s.End
		case s.Start <= pr.stTo[st]:
			pr.stTo[st] = max(pr.stTo[st], s.End)
		default:
			pr.stCover[st] += pr.stTo[st] - pr.stFrom[st]
			pr.stFrom[st], pr.stTo[st] = s.Start, s.End
		}
	}
	for _, st := range pr.stTouched {
		if pr.stOpen[st] {
			pr.stCover[st] += pr.stTo[st] - pr.stFrom[st]
		}
	}
}

// gapsOf adds the trace's untraced slices (own path time of spans with
// children) to the per-gap totals.
func (w *worker) gapsOf(t *Trace) {
	opOf := func(i int32) int32 {
		if i < 0 {
			return -1
		}
		return int32(w.shapeOp[t.Spans[i].Shape])
	}
	for _, s := range w.f.slices {
		if t.KidStart[s.Span+1] == t.KidStart[s.Span] {
			continue
		}
		k := gapKey{opOf(s.Span), opOf(s.After), opOf(s.Before)}
		if p, ok := k.pack(); ok {
			w.gaps.add(p, s.To-s.From)
		} else {
			w.gapsWide[k] += s.To - s.From
		}
	}
}

func (w *worker) countOpStage(op uint32, st int32) {
	sc := w.opStage[op]
	for i := range sc {
		if sc[i].stage == st {
			sc[i].n++
			return
		}
	}
	w.opStage[op] = append(sc, stageCount{st, 1})
}

// groupScope returns the scope of the trace's group, or nil without
// grouping.
func (w *worker) groupScope(t *Trace) *scope {
	if w.groups == nil {
		return nil
	}
	g := int32(-1)
	if t.Root >= 0 {
		g = w.groupVal[t.Spans[t.Root].Shape]
	}
	if g < 0 {
		for i := range t.Spans {
			if v := w.groupVal[t.Spans[i].Shape]; v >= 0 {
				g = v
				break
			}
		}
	}
	if g < 0 {
		g = int32(len(w.groups) - 1) // missing
		if t.Root >= 0 {
			w.noGroupKey++
		}
	}
	if w.groups[g] == nil {
		w.groups[g] = newScope(len(w.ops), w.stages.numStages(), w.opt.Exemplars)
	}
	return w.groups[g]
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
		w.warn.AddKeyed(model.WarnDuplicateSpanID, is.duplicates, id, func() string {
			return fmt.Sprintf("trace %s: %d span(s) repeat an ID already seen in the trace; the later copies are ignored", id, is.duplicates)
		})
	}
	if is.orphans > 0 {
		w.warn.AddKeyed(model.WarnOrphanSpan, is.orphans, id, func() string {
			for i := range t.Spans {
				if t.Orphan[i] {
					return fmt.Sprintf("trace %s: span %s names parent %s, which is not in the trace", id, t.Spans[i].ID, t.Spans[i].Parent)
				}
			}
			return "trace " + id
		})
	}
	if is.cycles > 0 {
		w.warn.AddKeyed(model.WarnParentCycle, is.cycles, id, func() string {
			return fmt.Sprintf("trace %s: parent references form a cycle; it was cut to make a tree", id)
		})
	}
	if is.multipleRoots {
		w.warn.AddKeyed(model.WarnMultipleRoots, 1, id, func() string {
			return fmt.Sprintf("trace %s: several spans have no parent; the longest is taken as the request", id)
		})
	}
	if is.noRoot {
		w.warn.AddKeyed(model.WarnNoRoot, 1, id, func() string {
			return fmt.Sprintf("trace %s: no span without a parent (partial trace?); it counts for operations but not as a request", id)
		})
	}
}

// countAdjustments counts what the skew adjustment and the critical path
// changed in the trace.
func (w *worker) countAdjustments(t *Trace, id string) {
	f := &w.f
	name := func(i int32) string {
		op := w.ops[w.shapeOp[t.Spans[i].Shape]]
		return fmt.Sprintf("%s %s (span %s)", op.Service, op.Name, t.Spans[i].ID)
	}
	for _, sh := range f.sk.shifts {
		s := &w.skew[w.hosts.svc[t.Spans[sh.span].Shape]]
		if sh.applied {
			s.Adjusted++
			s.MaxShiftNs = max(s.MaxShiftNs, abs(sh.delta))
		} else {
			s.Exceeded++
		}
	}
	if f.sk.adjusted > 0 {
		sh := f.sk.shifts[0]
		for _, x := range f.sk.shifts {
			if x.applied {
				sh = x
				break
			}
		}
		w.warn.AddKeyed(WarnClockSkew, f.sk.adjusted, id, func() string {
			return fmt.Sprintf("trace %s: %s did not fit its parent %s on another host; shifted by %s (clock skew)",
				id, name(sh.span), name(t.Parent[sh.span]), time.Duration(sh.delta))
		})
	}
	if f.sk.exceeded > 0 {
		sh := f.sk.shifts[0]
		for _, x := range f.sk.shifts {
			if !x.applied {
				sh = x
				break
			}
		}
		w.warn.AddKeyed(WarnClockSkewOver, f.sk.exceeded, id, func() string {
			return fmt.Sprintf("trace %s: %s would need a shift of %s to fit its parent %s, more than --max-clock-skew %s; left as recorded",
				id, name(sh.span), time.Duration(sh.delta), name(t.Parent[sh.span]), time.Duration(w.maxSkew))
		})
	}
	is := &f.cpi
	if is.clipped > 0 {
		c, p := is.clippedAt[0], is.clippedAt[1]
		w.warn.AddKeyed(WarnChildClipped, is.clipped, id, func() string {
			return fmt.Sprintf("trace %s: %s sticks out of its parent %s; clipped to it for the critical path", id, name(c), name(p))
		})
	}
	if is.outside > 0 {
		c, p := is.outsideAt[0], is.outsideAt[1]
		w.warn.AddKeyed(WarnChildOutside, is.outside, id, func() string {
			return fmt.Sprintf("trace %s: %s lies wholly outside its parent %s; off the critical path, kept in the statistics", id, name(c), name(p))
		})
	}
	if is.shifted > 0 {
		c, p := is.shiftedAt[0], is.shiftedAt[1]
		w.warn.AddKeyed(WarnChildShifted, is.shifted, id, func() string {
			return fmt.Sprintf("trace %s: %s sticks out of its parent %s by at most 1%% of the parent; shifted inside as clock skew", id, name(c), name(p))
		})
	}
	if is.overlaps > 0 {
		c, p := is.overlapAt[0], is.overlapAt[1]
		w.warn.AddKeyed(WarnSiblingOverlap, is.overlaps, id, func() string {
			return fmt.Sprintf("trace %s: %s overlaps the next child of %s on the critical path by at most 1%% of the parent; taken as clock skew", id, name(c), name(p))
		})
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func (w *worker) merge(o *worker) {
	w.top.merge(o.top)
	for g := range w.groups {
		switch {
		case o.groups[g] == nil:
		case w.groups[g] == nil:
			w.groups[g] = o.groups[g]
		default:
			w.groups[g].merge(o.groups[g])
		}
	}
	w.traces += o.traces
	w.tracesRead += o.tracesRead
	w.noGroupKey += o.noGroupKey
	w.warn.Merge(&o.warn)
	for i := range w.skew {
		a, b := &w.skew[i], &o.skew[i]
		a.Adjusted += b.Adjusted
		a.Exceeded += b.Exceeded
		a.MaxShiftNs = max(a.MaxShiftNs, b.MaxShiftNs)
	}
	for k, v := range o.gapsWide {
		w.gapsWide[k] += v
	}
	o.gaps.each(w.gaps.add)
	for k, v := range o.ruleUse {
		w.ruleUse[k] += v
	}
	for op, sc := range o.opStage {
		for _, x := range sc {
			if i := indexStage(w.opStage[op], x.stage); i >= 0 {
				w.opStage[op][i].n += x.n
			} else {
				w.opStage[op] = append(w.opStage[op], x)
			}
		}
	}
}

func indexStage(sc []stageCount, st int32) int {
	for i := range sc {
		if sc[i].stage == st {
			return i
		}
	}
	return -1
}
