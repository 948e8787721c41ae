package model

import "sort"

// Warning kinds. Each is counted, never hidden; the JSON report carries them
// under these names.
const (
	WarnBadSpan         = "bad_span"          // unusable span (bad ID, unreadable field): skipped
	WarnEndBeforeStart  = "end_before_start"  // end < start: duration set to 0
	WarnMissingService  = "missing_service"   // no service.name: counted under "unknown"
	WarnMissingTime     = "missing_timestamp" // start or end absent: skipped
	WarnDuplicateSpanID = "duplicate_span_id" // same span ID twice in a trace: later copy ignored
	WarnOrphanSpan      = "orphan_span"       // parent not in the trace: treated as a root of its own subtree
	WarnMultipleRoots   = "multiple_roots"    // trace with several roots: the longest is the request
	WarnNoRoot          = "no_root"           // every span has a parent (a cycle or only orphans)
	WarnParentCycle     = "parent_cycle"      // parent references form a cycle: broken at one span
	WarnSkippedFile     = "skipped_file"      // a file found in a directory that holds no traces
	WarnOverRange       = "value_over_range"  // longer than the histograms' range: recorded at the maximum
	WarnPartialTrace    = "partial_trace"     // the server said the trace is incomplete
)

// Warnings counts data-quality problems by kind and keeps one example of
// each, so a report can say what was wrong and where. The example kept is
// the one with the smallest key (the earliest place in the input), so the
// report does not depend on which goroutine saw a problem first.
type Warnings struct {
	m map[string]*warning
}

type warning struct {
	count   int
	key     string
	example string
}

// WarningCount is one line of the data-quality summary.
type WarningCount struct {
	Kind    string `json:"kind"`
	Count   int    `json:"count"`
	Example string `json:"example"`
}

// Add counts one occurrence, ordering examples by their text.
func (w *Warnings) Add(kind, example string) {
	w.AddKeyed(kind, 1, example, func() string { return example })
}

// AddKeyed counts n occurrences; example is called only when key is smaller
// than the kept example's key.
func (w *Warnings) AddKeyed(kind string, n int, key string, example func() string) {
	if n <= 0 {
		return
	}
	if w.m == nil {
		w.m = map[string]*warning{}
	}
	e := w.m[kind]
	if e == nil {
		e = &warning{key: key, example: example()}
		w.m[kind] = e
	} else if key < e.key {
		e.key, e.example = key, example()
	}
	e.count += n
}

// Merge adds other's counts to w.
func (w *Warnings) Merge(other *Warnings) {
	for k, e := range other.m {
		w.AddKeyed(k, e.count, e.key, func() string { return e.example })
	}
}

// Count returns how many of kind were seen.
func (w *Warnings) Count(kind string) int {
	if e := w.m[kind]; e != nil {
		return e.count
	}
	return 0
}

// Total returns the number of warnings of all kinds.
func (w *Warnings) Total() int {
	n := 0
	for _, e := range w.m {
		n += e.count
	}
	return n
}

// List returns the warnings sorted by kind.
func (w *Warnings) List() []WarningCount {
	out := make([]WarningCount, 0, len(w.m))
	for k, e := range w.m {
		out = append(out, WarningCount{Kind: k, Count: e.count, Example: e.example})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
