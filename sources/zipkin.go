package sources

import (
	"bytes"
	"slices"
	"sync"

	"github.com/trace-forensics/trace-forensics/model"
)

// This file reads Zipkin v2 JSON: the array of spans /api/v2/trace/{id}
// answers and the array of traces (arrays of spans) /api/v2/traces answers,
// as the Zipkin UI and the API save them. Times are µs; a span without a
// timestamp or a duration (an incomplete span, or a late half reporting only
// tags) is skipped with a missing_timestamp warning. Zero counts as absent,
// as in Zipkin's own model: instrumentation rounds real durations up to 1 µs.
// IDs are hex; 16-digit trace IDs are right-aligned, as OTLP readers of
// Zipkin data do. A span with no kind is unspecified unless a span.kind tag
// (the OpenTelemetry exporter's, for INTERNAL spans) says otherwise.
//
// Shared spans. In Zipkin's B3 model an RPC server may report its half under
// the client's span ID: a CLIENT span and a SERVER span (marked shared:true)
// with the same id. Both are kept, the server as the child of the client, as
// Zipkin's UI nests them: the server half gets a derived span ID
// (zipkinSharedID of the shared id: deterministic, so the same file always
// gives the same IDs) and the client's ID as its parent. A SERVER span that
// reuses a CLIENT span's id without the shared flag is treated the same way,
// as Zipkin's own trace merging does, so the flag itself is not needed. The spans whose parentId is the shared
// id belong to one of the halves: Zipkin's rule is by local endpoint, and so
// is this reader's. A child reported by the client's service and not by the
// server's stays under the client; every other child (the server's own
// spans, and those whose service says nothing) hangs under the server half,
// since the work the shared span led to happened after the server took the
// request. A SERVER span with no CLIENT twin keeps its ID and parent.
//
// Pairing needs every span of a trace: the spans of an array of spans, or of
// one inner array of an array of traces, are read first and emitted at its
// end. Memory grows with the largest such group, not with the file.

// zipkinKey locates a span ID in a trace, for pairing.
type zipkinKey struct {
	trace model.TraceID
	id    model.SpanID
	idx   int32 // index of the span in decoder.recs
}

// zipkinState is the reusable scratch of the Zipkin reader.
type zipkinState struct {
	clients []zipkinKey // CLIENT spans, sorted by (trace, id)
	pairs   []zipkinKey // shared ids with both halves; idx is the server half
}

var zipkinStates = sync.Pool{New: func() any { return new(zipkinState) }}

func putZipkinState(st *zipkinState) {
	st.clients, st.pairs = st.clients[:0], st.pairs[:0]
	zipkinStates.Put(st)
}

// zipkinArray reads Zipkin v2 JSON: an array of spans or of span arrays.
func (d *decoder) zipkinArray() {
	s := d.s
	if !d.jaegerEnter('[', `a Zipkin array of spans`) {
		return
	}
	st := zipkinStates.Get().(*zipkinState)
	defer putZipkinState(st)
	d.recs = d.recs[:0]
	for first := true; s.more(']', &first); {
		switch s.peek() {
		case '{':
			d.zipkinAppendSpan()
		case '[': // one trace of an array of traces
			d.zipkinFlush(st)
			s.pos++
			for first := true; s.more(']', &first); {
				if s.isNull() {
					continue
				}
				if s.peek() != '{' {
					s.unexpected("a Zipkin span object")
					return
				}
				d.zipkinAppendSpan()
			}
			d.zipkinFlush(st)
		default:
			if !s.isNull() {
				s.unexpected("a Zipkin span object or an array of spans")
			}
		}
		if s.err != nil {
			return
		}
	}
	d.zipkinFlush(st)
}

// zipkinAppendSpan reads one span into a new element of d.recs.
func (d *decoder) zipkinAppendSpan() {
	if len(d.recs) < cap(d.recs) {
		d.recs = d.recs[:len(d.recs)+1]
	} else {
		d.recs = append(d.recs, spanRec{})
	}
	r := &d.recs[len(d.recs)-1]
	r.reset()
	d.zipkinSpan(r)
}

// zipkinMaxMicros is the largest time in µs whose value in ns fits an int64.
const zipkinMaxMicros = jaegerMaxMicros

func (d *decoder) zipkinSpan(r *spanRec) {
	s := d.s
	s.ws()
	r.pos = s.pos
	s.pos++ // '{', checked by the caller
	var dur int64
	var hasDur, hasKind bool
	var tagKind []byte
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "traceId":
			if !s.hexString(r.trace[:]) {
				if v, ok := d.zipkinIDText(r, "traceId"); ok && !decodeHexID(r.trace[:], v) {
					jaegerBad(r, "traceId %q is not a hex ID", clip(v))
				}
			}
		case "id":
			r.id = d.zipkinSpanID(r, "id")
		case "parentId":
			r.parent = d.zipkinSpanID(r, "parentId")
		case "name":
			if s.peek() == '"' {
				r.name = s.strStable()
			} else {
				s.skip()
			}
		case "kind":
			if s.peek() == '"' {
				r.kind, hasKind = zipkinKind(s.str()), true
			} else {
				s.skip()
			}
		case "timestamp":
			r.start, r.hasStart = d.jaegerMicros(r, "timestamp")
		case "duration":
			dur, hasDur = d.jaegerMicros(r, "duration")
		case "localEndpoint":
			d.zipkinEndpoint(r)
		case "tags":
			tagKind = d.zipkinTags(r)
		default: // shared (see the top of the file), remoteEndpoint, annotations, debug
			s.skip()
		}
	}
	if s.err != nil {
		return
	}
	if !hasKind && tagKind != nil {
		// The OpenTelemetry Zipkin exporter writes no kind for INTERNAL
		// spans and says so in a span.kind tag.
		r.kind = jaegerKind(tagKind)
	}
	if r.hasStart && r.start == 0 {
		r.hasStart = false
	}
	if hasDur && dur == 0 {
		hasDur = false
	}
	if r.hasStart {
		if r.start > zipkinMaxMicros || r.start < -zipkinMaxMicros {
			jaegerBad(r, "span %q: timestamp %d µs is out of range", r.name, r.start)
		}
		if hasDur {
			end := r.start + dur
			if dur > zipkinMaxMicros || dur < -zipkinMaxMicros || end > zipkinMaxMicros || end < -zipkinMaxMicros {
				jaegerBad(r, "span %q: duration %d µs is out of range", r.name, dur)
			} else {
				r.end, r.hasEnd = end*1000, true
			}
		}
		r.start *= 1000
	}
}

// zipkinKind reads Zipkin's kind names without allocating; other spellings
// go through ParseKind.
func zipkinKind(v []byte) model.Kind {
	switch string(v) {
	case "CLIENT":
		return model.KindClient
	case "SERVER":
		return model.KindServer
	case "PRODUCER":
		return model.KindProducer
	case "CONSUMER":
		return model.KindConsumer
	}
	return model.ParseKind(string(v))
}

// zipkinIDText reads an ID string; null or absent gives false, any other
// kind of value makes the span bad.
func (d *decoder) zipkinIDText(r *spanRec, field string) ([]byte, bool) {
	v := d.jaegerIDText(r, field)
	return v, len(v) > 0
}

// zipkinSpanID reads a span ID: up to 16 hex digits, right-aligned. Empty
// or null is 0 (none); anything else makes the span bad.
func (d *decoder) zipkinSpanID(r *spanRec, field string) model.SpanID {
	var b [8]byte
	if d.s.hexString(b[:]) {
		return spanIDOf(b)
	}
	v, ok := d.zipkinIDText(r, field)
	if !ok {
		return 0
	}
	if !decodeHexID(b[:], v) {
		jaegerBad(r, "%s %q is not a hex ID", field, clip(v))
		return 0
	}
	return spanIDOf(b)
}

// zipkinEndpoint reads localEndpoint: only its serviceName matters.
func (d *decoder) zipkinEndpoint(r *spanRec) {
	s := d.s
	if s.isNull() || !d.jaegerEnter('{', `an endpoint object as "localEndpoint"`) {
		return
	}
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "serviceName":
			if s.peek() == '"' {
				r.service = s.strStable()
			} else {
				s.skip()
			}
		default: // ipv4, ipv6, port
			s.skip()
		}
	}
}

// zipkinTags reads the tags object. Values are strings in Zipkin; numbers
// and booleans are taken as written. An error tag, whatever its value
// (Zipkin puts the message there), marks an error; so does
// otel.status_code=ERROR. It returns the span.kind tag's value, if any.
func (d *decoder) zipkinTags(r *spanRec) (kind []byte) {
	s := d.s
	if s.isNull() || !d.jaegerEnter('{', `an object of tags as "tags"`) {
		return nil
	}
	for first := true; s.more('}', &first); {
		k := s.strStable()
		if s.peek() != ':' {
			s.unexpected("':'")
			return nil
		}
		s.pos++
		if !d.wanted(k) {
			s.skip()
			continue
		}
		var v []byte
		switch s.peek() {
		case '"':
			v = s.strStable()
		case '{', '[':
			s.skip()
			continue
		default:
			if s.isNull() {
				continue
			}
			v = s.raw()
		}
		if s.err != nil {
			return nil
		}
		switch string(k) {
		case "error":
			if string(v) != "false" {
				r.flags |= model.FlagError
			}
		case "otel.status_code":
			if string(v) == "ERROR" {
				r.flags |= model.FlagError
			}
		case "span.kind":
			kind = v
		}
		if i := d.sk.keepIndex(k); i >= 0 {
			r.attrs = append(r.attrs, keptValue{key: i, val: v})
		}
	}
	return kind
}

// zipkinFlush pairs the shared spans of the group read so far, emits its
// spans and starts a new group.
func (d *decoder) zipkinFlush(st *zipkinState) {
	if len(d.recs) == 0 {
		return
	}
	if d.s.err == nil {
		d.zipkinPair(st)
		for i := range d.recs {
			d.sk.emit(&d.recs[i], nil, nil)
		}
	}
	d.recs = d.recs[:0]
}

// zipkinUsable reports whether a span will be stored, so that only such
// spans take part in pairing.
func zipkinUsable(r *spanRec) bool {
	return r.bad == "" && r.hasStart && r.hasEnd && r.id != 0 && !r.trace.IsZero()
}

func cmpZipkinKey(a, b zipkinKey) int {
	if c := bytes.Compare(a.trace[:], b.trace[:]); c != 0 {
		return c
	}
	switch {
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// zipkinPair finds CLIENT/SERVER halves sharing one ID, gives each server
// half its derived ID under the client, and moves the children of a shared
// ID to the half they belong to (see the comment at the top of the file).
func (d *decoder) zipkinPair(st *zipkinState) {
	recs := d.recs
	st.clients, st.pairs = st.clients[:0], st.pairs[:0]
	servers := 0
	for i := range recs {
		r := &recs[i]
		if !zipkinUsable(r) {
			continue
		}
		switch r.kind {
		case model.KindClient:
			st.clients = append(st.clients, zipkinKey{trace: r.trace, id: r.id, idx: int32(i)})
		case model.KindServer:
			servers++
		}
	}
	if len(st.clients) == 0 || servers == 0 {
		return
	}
	slices.SortFunc(st.clients, cmpZipkinKey)
	for i := range recs {
		r := &recs[i]
		if r.kind != model.KindServer || !zipkinUsable(r) {
			continue
		}
		k := zipkinKey{trace: r.trace, id: r.id, idx: int32(i)}
		if _, ok := slices.BinarySearchFunc(st.clients, k, cmpZipkinKey); ok {
			st.pairs = append(st.pairs, k)
		}
	}
	if len(st.pairs) == 0 {
		return
	}
	// Sorted, the first server half of each ID kept; a second one is left
	// with the shared ID, a duplicate the assembly reports.
	slices.SortFunc(st.pairs, func(a, b zipkinKey) int {
		if c := cmpZipkinKey(a, b); c != 0 {
			return c
		}
		return int(a.idx - b.idx)
	})
	st.pairs = slices.CompactFunc(st.pairs, func(a, b zipkinKey) bool { return cmpZipkinKey(a, b) == 0 })
	// Children first, while the server halves still carry the shared ID.
	for i := range recs {
		r := &recs[i]
		if r.parent == 0 {
			continue
		}
		j, ok := slices.BinarySearchFunc(st.pairs, zipkinKey{trace: r.trace, id: r.parent}, cmpZipkinKey)
		if !ok || int32(i) == st.pairs[j].idx {
			continue
		}
		srv := &recs[st.pairs[j].idx]
		if r.kind == model.KindServer && r.id == r.parent {
			continue
		}
		if cl := zipkinClientOf(st, r.trace, r.parent); cl != nil && !bytes.Equal(r.service, srv.service) &&
			bytes.Equal(r.service, recs[cl.idx].service) {
			continue // the client's own child
		}
		r.parent = zipkinSharedID(r.parent)
	}
	for _, p := range st.pairs {
		srv := &recs[p.idx]
		srv.parent = p.id
		srv.id = zipkinSharedID(p.id)
	}
}

func zipkinClientOf(st *zipkinState, t model.TraceID, id model.SpanID) *zipkinKey {
	j, ok := slices.BinarySearchFunc(st.clients, zipkinKey{trace: t, id: id}, cmpZipkinKey)
	if !ok {
		return nil
	}
	return &st.clients[j]
}

// zipkinSharedID is the span ID given to the server half of a shared span:
// a bijective mix of the shared ID (SplitMix64's finalizer), never 0.
func zipkinSharedID(id model.SpanID) model.SpanID {
	x := uint64(id) ^ 0x5a69706b696e5348 // "ZipkinSH"
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	if x == 0 || model.SpanID(x) == id {
		x = ^x
	}
	return model.SpanID(x)
}
