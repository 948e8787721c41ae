package model

import (
	"encoding/hex"
	"fmt"
	"strings"
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
