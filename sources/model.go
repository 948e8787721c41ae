package sources

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// TraceID is a 128-bit trace identifier. Shorter IDs (Jaeger's 64-bit ones,
// hex with a dropped leading zero) are right-aligned, so that the same trace
// read from two formats gets the same ID.
type TraceID [16]byte

// SpanID is a 64-bit span identifier; 0 means "none" (no parent).
type SpanID uint64

// String returns the 32-digit lowercase hex form.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// IsZero reports whether all bytes are zero, which no valid trace has.
func (t TraceID) IsZero() bool { return t == TraceID{} }

// String returns the 16-digit lowercase hex form.
func (s SpanID) String() string { return fmt.Sprintf("%016x", uint64(s)) }

// Kind is the OpenTelemetry span kind.
type Kind uint8

const (
	KindUnspecified Kind = iota
	KindInternal
	KindServer
	KindClient
	KindProducer
	KindConsumer
)

var kindNames = [...]string{"unspecified", "internal", "server", "client", "producer", "consumer"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unspecified"
}

// parseKindBytes is ParseKind for the exact forms readers meet, without
// allocating; other spellings go through ParseKind.
func parseKindBytes(b []byte) Kind {
	switch string(b) {
	case "SPAN_KIND_SERVER", "server":
		return KindServer
	case "SPAN_KIND_CLIENT", "client":
		return KindClient
	case "SPAN_KIND_INTERNAL", "internal":
		return KindInternal
	case "SPAN_KIND_PRODUCER", "producer":
		return KindProducer
	case "SPAN_KIND_CONSUMER", "consumer":
		return KindConsumer
	case "SPAN_KIND_UNSPECIFIED", "unspecified", "":
		return KindUnspecified
	}
	return ParseKind(string(b))
}

// ParseKind accepts the lowercase names used by Jaeger's span.kind tag and the
// OTLP enum names (SPAN_KIND_SERVER); anything else is KindUnspecified.
func ParseKind(s string) Kind {
	s = strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "SPAN_KIND_"))
	for i, n := range kindNames {
		if n == s {
			return Kind(i)
		}
	}
	return KindUnspecified
}

// Flags carry per-span facts that analysis needs and that fit in a byte.
type Flags uint8

const (
	// FlagError: status ERROR, an error=true tag or otel.status_code=ERROR.
	FlagError Flags = 1 << iota
	// FlagFollowsFrom: the parent reference is FOLLOWS_FROM, i.e. the parent
	// did not wait for this span.
	FlagFollowsFrom
	// FlagLinked: the span has links to other spans (kept in Dataset.Links).
	FlagLinked
)

// Span is the compact record every reader produces. Names and the few
// attributes analysis needs live once in the Catalog; a span only points at
// its Shape, which keeps a million spans in about 56 MB.
type Span struct {
	Trace  TraceID
	ID     SpanID
	Parent SpanID
	Start  int64 // unix nanoseconds
	End    int64 // unix nanoseconds, never before Start
	Shape  uint32
	Kind   Kind
	Flags  Flags
}

// Duration is End-Start in nanoseconds.
func (s *Span) Duration() int64 { return s.End - s.Start }

// Attr is one kept attribute: a key the user asked for (grouping, stage
// rules) and its value as text. Other attribute values are never stored.
type Attr struct {
	Key, Value string
}

// Op is an operation: a service and a span name.
type Op struct {
	Service, Name string
}

// Shape is what spans of one kind have in common: the operation, the kind
// and the values of the kept attributes (span attributes over resource ones).
type Shape struct {
	Op    uint32
	Kind  Kind
	Attrs []Attr // sorted by key
}

// Attr returns the kept value of key and whether the shape has it.
func (s *Shape) Attr(key string) (string, bool) {
	for _, a := range s.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Link is a span link: From (in trace Trace) points at To in ToTrace.
type Link struct {
	Trace   TraceID
	From    SpanID
	ToTrace TraceID
	To      SpanID
}

// Catalog interns operations and shapes. Readers on several goroutines share
// one; each keeps a private cache in front of it so the lock is taken only
// for names not seen before.
type Catalog struct {
	mu      sync.Mutex
	ops     []Op
	opIndex map[Op]uint32
	shapes  []Shape
	index   map[string]uint32
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{opIndex: map[Op]uint32{}, index: map[string]uint32{}}
}

// Ops returns the interned operations; the index is Shape.Op.
func (c *Catalog) Ops() []Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[:len(c.ops):len(c.ops)]
}

// Shapes returns the interned shapes; the index is Span.Shape.
func (c *Catalog) Shapes() []Shape {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shapes[:len(c.shapes):len(c.shapes)]
}

// intern returns the index of the shape with the given key, creating it from
// the parts when it is new.
func (c *Catalog) intern(key []byte, service, name string, kind Kind, attrs []Attr) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[string(key)]; ok {
		return i
	}
	op := Op{Service: service, Name: name}
	oi, ok := c.opIndex[op]
	if !ok {
		oi = uint32(len(c.ops))
		c.ops = append(c.ops, op)
		c.opIndex[op] = oi
	}
	i := uint32(len(c.shapes))
	c.shapes = append(c.shapes, Shape{Op: oi, Kind: kind, Attrs: attrs})
	c.index[string(key)] = i
	return i
}

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
