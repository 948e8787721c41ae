package live

// This file drives a live pull for any server kind: searches page through
// time windows until the limit is reached, traces asked for by ID are
// fetched with bounded concurrency, each trace is kept once, and every
// answer goes to the same decoding workers as files (and to --save).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
	"github.com/trace-forensics/trace-forensics/sources"
)

// Warning kinds of live pulls.
const (
	WarnTraceNotFound   = "trace_not_found"  // a trace asked for by ID is not on the server
	WarnSearchTruncated = "search_truncated" // a search window held more traces than one answer can carry
)

// Pull defaults.
const (
	DefaultPullLimit    = 1000
	DefaultPullLookback = time.Hour
	// maxSearchPage caps how many traces one search asks for. Servers refuse
	// more than their own maximum (Jaeger's in-memory store: max_traces) and
	// big pages make big answers; the time window is split instead.
	maxSearchPage = 1000
	// minWindow is the narrowest search window: the v1 API counts in µs.
	minWindow = 2 * time.Microsecond
)

// errSearchDepth marks a server refusing the number of traces asked for.
var errSearchDepth = errors.New("search depth refused")

// TraceQuery selects the traces of a live pull.
type TraceQuery struct {
	Services    []string // each is searched; none means all (where the server allows it)
	Operation   string   // exact span name
	Tags        map[string]string
	Start, End  time.Time // zero End is now; zero Start is End - DefaultPullLookback
	MinDuration time.Duration
	MaxDuration time.Duration
	Limit       int      // traces; 0 means DefaultPullLimit
	TraceIDs    []string // fetch these traces instead of searching
}

func (q *TraceQuery) limit() int {
	if q.Limit > 0 {
		return q.Limit
	}
	return DefaultPullLimit
}

// window returns the search window with defaults filled in.
func (q *TraceQuery) window(now time.Time) (window, error) {
	w := window{start: q.Start, end: q.End}
	if w.end.IsZero() {
		w.end = now
	}
	if w.start.IsZero() {
		w.start = w.end.Add(-DefaultPullLookback)
	}
	if !w.start.Before(w.end) {
		return w, fmt.Errorf("the search window is empty: start %s is not before end %s",
			w.start.UTC().Format(time.RFC3339), w.end.UTC().Format(time.RFC3339))
	}
	return w, nil
}

// NormalizeTraceID checks a trace ID given by a user and returns the form
// servers and the dataset use: 32 lowercase hex digits.
func NormalizeTraceID(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" || len(t) > 32 {
		return "", fmt.Errorf("trace ID %q: want 1 to 32 hex digits", s)
	}
	for _, c := range t {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("trace ID %q: %q is not a hex digit", s, string(c))
		}
	}
	return strings.Repeat("0", 32-len(t)) + t, nil
}

// traceKey is the dedup key of a trace ID as a server wrote it.
func traceKey(s string) string {
	if n, err := NormalizeTraceID(s); err == nil {
		return n
	}
	return s
}

// window is a closed range of trace start times.
type window struct{ start, end time.Time }

func (w window) splittable() bool { return w.end.Sub(w.start) >= 2*minWindow }

// halves returns the earlier and the later half.
func (w window) halves() (window, window) {
	mid := w.start.Add(w.end.Sub(w.start) / 2)
	return window{w.start, mid}, window{mid, w.end}
}

func (w window) String() string {
	return w.start.UTC().Format(time.RFC3339Nano) + " – " + w.end.UTC().Format(time.RFC3339Nano)
}

// page is one answer: the traces in it and how to encode all or some of
// them as a body the decoders read.
type page struct {
	traces []pageTrace
	body   []byte                                     // every trace; nil means use encode
	encode func(keep map[string]bool) ([]byte, error) // only the kept traces (by traceKey)
	size   int64                                      // bytes received
	notes  []string                                   // server-reported problems (partial results)
}

type pageTrace struct {
	id    string // traceKey
	start int64  // earliest span start, unix ns
}

// traceSource is a server a pull reads from.
type traceSource interface {
	// name says where the traces come from, for messages: "jaeger http://…".
	name() string
	// saveName is the base of the --save file name.
	saveName() string
	// search returns at most about n traces that match and start in w.
	search(ctx context.Context, q *TraceQuery, service string, w window, n int) (*page, error)
	// fetch returns one whole trace; nil when the server does not have it.
	fetch(ctx context.Context, id string) (*page, error)
}

// puller feeds the traces of one source into a load.
type puller struct {
	src  traceSource
	po   PullOptions
	feed *sources.Feed
	in   *sources.FeedInput
	save *saver
	prog *progress

	mu        sync.Mutex
	seen      map[string]bool
	delivered int
}

// pull runs a query against a source and returns the dataset. Zero traces
// is not an error: the dataset is empty and the caller says "no traces
// matched".
func pull(ctx context.Context, src traceSource, q TraceQuery, po PullOptions, opt sources.Options) (*model.Dataset, error) {
	var sv *saver
	if po.SaveDir != "" {
		var err error
		if sv, err = newSaver(po.SaveDir, src.saveName(), manifestFor(src, &q, po)); err != nil {
			return nil, err
		}
	}
	ds, err := sources.Stream(ctx, opt, func(ctx context.Context, feed *sources.Feed) error {
		p := &puller{src: src, po: po, feed: feed, in: feed.Input(src.name(), true), save: sv, seen: map[string]bool{}}
		total := q.limit()
		if len(q.TraceIDs) > 0 {
			total = len(q.TraceIDs)
		}
		p.prog = newProgress(po.Progress, "pulling from "+src.name(), total)
		defer p.prog.finish()
		if len(q.TraceIDs) > 0 {
			return p.fetchAll(ctx, q.TraceIDs)
		}
		return p.searchAll(ctx, &q)
	})
	if sv != nil {
		if cerr := sv.close(err); err == nil && cerr != nil {
			return nil, cerr
		}
	}
	return ds, err
}

// deliver sends the traces of pg not seen before, at most capN of them
// (newest first) when capN >= 0. It returns how many were new.
func (p *puller) deliver(ctx context.Context, pg *page, capN int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fresh []pageTrace
	for _, t := range pg.traces {
		if !p.seen[t.id] {
			fresh = append(fresh, t)
		}
	}
	if capN >= 0 && len(fresh) > capN {
		sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].start > fresh[j].start })
		fresh = fresh[:capN]
	}
	for _, n := range pg.notes {
		p.po.notify("%s: %s", p.src.name(), n)
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	body := pg.body
	if body == nil || len(fresh) < len(pg.traces) {
		keep := make(map[string]bool, len(fresh))
		for _, t := range fresh {
			keep[t.id] = true
		}
		var err error
		if body, err = pg.encode(keep); err != nil {
			return 0, fmt.Errorf("%s: re-encoding an answer: %w", p.src.name(), err)
		}
	}
	for _, t := range fresh {
		p.seen[t.id] = true
	}
	p.delivered += len(fresh)
	if p.save != nil {
		if err := p.save.write(body); err != nil {
			return 0, err
		}
	}
	p.prog.add(len(fresh), pg.size)
	if !p.feed.Send(p.in, body) {
		return 0, context.Cause(ctx)
	}
	return len(fresh), nil
}

// warn records a data-quality warning on the pull's input.
func (p *puller) warn(ctx context.Context, kind, msg string) error {
	if !p.feed.Warn(p.in, kind, msg) {
		return context.Cause(ctx)
	}
	return nil
}

// searchAll searches each service, newest time window first. A window whose
// answer is full may hold more traces than came back: it is split in two
// and both halves are searched, until --limit traces are in. Splitting
// rather than moving a cursor keeps the pull complete whatever order the
// server returns traces in.
func (p *puller) searchAll(ctx context.Context, q *TraceQuery) error {
	whole, err := q.window(p.po.now())
	if err != nil {
		return err
	}
	limit := q.limit()
	services := q.Services
	if len(services) == 0 {
		services = []string{""}
	}
	for si, svc := range services {
		stack := []window{whole}
		pageMax := min(limit, maxSearchPage)
		if p.po.PageSize > 0 {
			pageMax = min(limit, p.po.PageSize)
		}
		for len(stack) > 0 {
			need := limit - p.delivered
			if need <= 0 {
				p.po.notify("%s: stopped at --limit %d traces; more traces may match", p.src.name(), limit)
				return nil
			}
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n := min(pageMax, need)
			pg, err := p.src.search(ctx, q, svc, w, n)
			switch {
			case errors.Is(err, errTooLarge) && w.splittable():
				early, late := w.halves()
				stack = append(stack, early, late)
				continue
			case errors.Is(err, errSearchDepth) && n > 1:
				pageMax = max(1, n/2)
				stack = append(stack, w)
				continue
			case err != nil:
				return err
			}
			if _, err := p.deliver(ctx, pg, need); err != nil {
				return err
			}
			if len(pg.traces) < n {
				continue // the window is complete
			}
			if !w.splittable() {
				msg := fmt.Sprintf("more than %d traces start within %s; only %d were pulled", n-1, w, n)
				if err := p.warn(ctx, WarnSearchTruncated, p.src.name()+": "+msg); err != nil {
					return err
				}
				continue
			}
			early, late := w.halves()
			stack = append(stack, early, late)
		}
		if p.delivered >= limit && si < len(services)-1 {
			p.po.notify("%s: stopped at --limit %d traces; services %s were not searched",
				p.src.name(), limit, strings.Join(services[si+1:], ", "))
			return nil
		}
	}
	return nil
}

// fetchAll fetches traces by ID with bounded concurrency. A trace the
// server does not have is a warning, not an error.
func (p *puller) fetchAll(ctx context.Context, ids []string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	todo := make(chan string)
	var missing []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(p.po.concurrency(), len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range todo {
				pg, err := p.src.fetch(ctx, id)
				if err == nil && pg == nil {
					mu.Lock()
					missing = append(missing, id)
					mu.Unlock()
					continue
				}
				if err == nil {
					_, err = p.deliver(ctx, pg, -1)
				}
				if err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	seen := map[string]bool{}
feed:
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		select {
		case todo <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	sort.Strings(missing)
	for _, id := range missing {
		if err := p.warn(ctx, WarnTraceNotFound, fmt.Sprintf("%s: trace %s not found", p.src.name(), id)); err != nil {
			return err
		}
	}
	return nil
}
