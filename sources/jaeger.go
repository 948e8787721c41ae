package sources

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/trace-forensics/trace-forensics/model"
)

// This file reads Jaeger JSON: the query API's {"data":[…]} envelope, the
// UI's downloads ({"data":{…}}, a bare array of traces or one trace object)
// and the transformed traces older UIs saved, whose references embed whole
// spans, nested recursively. Those embedded spans are skipped, never
// followed, so such files are read in one pass like any other.
//
// IDs are opaque strings. Hex is decoded right-aligned, as Jaeger itself
// does, so 16-, 31- and 32-digit forms of one trace agree with OTLP; any
// other text ("A" in test suites) is hashed, and the original text of trace
// IDs is kept so reports can print it.

// WarnTraceLookup counts the entries of a Jaeger envelope's errors list: a
// trace the server was asked for and could not return.
const WarnTraceLookup = "trace_lookup_failed"

// jaegerProc is one process of a trace: an entry of the trace's processes
// object, or a process embedded in a span.
type jaegerProc struct {
	id      []byte // key in processes; nil for an embedded process
	service []byte
	lo, hi  int // kept tags are jaegerState.kept[lo:hi]
}

// jaegerSpanInfo is what a span needs resolved at the end of its trace,
// parallel to decoder.recs.
type jaegerSpanInfo struct {
	pid      []byte // processID
	proc     int32  // index of an embedded process in procs, or -1
	hasTrace bool   // the span carried its own traceID
}

// Reference types.
const (
	jaegerRefOther uint8 = iota
	jaegerChildOf
	jaegerFollowsFrom
)

type jaegerRef struct {
	typ      uint8
	hasTrace bool
	trace    model.TraceID
	span     model.SpanID
}

// jaegerState is the reusable scratch of the Jaeger reader, kept in a pool
// so that reading a trace allocates nothing once the slices have grown.
type jaegerState struct {
	procs []jaegerProc
	kept  []keptValue
	info  []jaegerSpanInfo
	refs  []jaegerRef
	index map[string]int32 // processes by ID, for traces with many of them

	lastText []byte // the trace ID text decoded last, and its ID
	lastID   model.TraceID
}

var jaegerStates = sync.Pool{New: func() any { return new(jaegerState) }}

func getJaegerState() *jaegerState { return jaegerStates.Get().(*jaegerState) }

func putJaegerState(st *jaegerState) {
	// Drop references into the input buffer before pooling.
	clear(st.procs[:cap(st.procs)])
	clear(st.kept[:cap(st.kept)])
	clear(st.info[:cap(st.info)])
	clear(st.index)
	st.lastText = st.lastText[:0]
	jaegerStates.Put(st)
}

// jaegerData reads the value of a Jaeger envelope's "data" key: an array of
// traces, a single trace object or null.
func (d *decoder) jaegerData() {
	s := d.s
	switch s.peek() {
	case '[':
		d.jaegerTraceArray()
	case '{':
		d.jaegerTrace()
	default:
		if !s.isNull() {
			s.unexpected(`a Jaeger trace or an array of traces as the value of "data"`)
		}
	}
}

// jaegerErrors reads a Jaeger envelope's "errors" list. Each entry is a
// failed trace lookup and becomes a counted warning. Anything but a list is
// not Jaeger's and is passed over.
func (d *decoder) jaegerErrors() {
	s := d.s
	if s.peek() != '[' {
		s.skip()
		return
	}
	s.pos++
	for first := true; s.more(']', &first); {
		s.ws()
		pos := s.pos
		if s.peek() != '{' {
			s.skip()
			continue
		}
		s.pos++
		var code []byte
		var msg, trace string
		for first := true; s.more('}', &first); {
			switch string(s.key()) {
			case "code":
				code = s.raw()
			case "msg":
				msg = d.jaegerText(200)
			case "traceID":
				trace = d.jaegerText(40)
			default:
				s.skip()
			}
		}
		if s.err != nil {
			return
		}
		if msg == "" {
			msg = "no message"
		}
		what := "a trace lookup failed"
		if trace != "" {
			what = fmt.Sprintf("trace %s: lookup failed", trace)
		}
		if len(code) > 0 && string(code) != "null" {
			d.sk.warnf(WarnTraceLookup, pos, "%s: %s (code %s)", what, msg, code)
		} else {
			d.sk.warnf(WarnTraceLookup, pos, "%s: %s", what, msg)
		}
	}
}

// jaegerText reads a string for a message, cut to max bytes; other values
// are skipped.
func (d *decoder) jaegerText(max int) string {
	if d.s.peek() == '"' {
		v := d.s.str()
		if len(v) > max {
			return string(v[:max]) + "…"
		}
		return string(v)
	}
	d.s.skip()
	return ""
}

// jaegerTrace reads one Jaeger trace object.
func (d *decoder) jaegerTrace() {
	st := getJaegerState()
	defer putJaegerState(st)
	d.jaegerTraceWith(st)
}

// jaegerTraceArray reads a bare array of Jaeger traces.
func (d *decoder) jaegerTraceArray() {
	s := d.s
	if !d.jaegerEnter('[', `an array of Jaeger traces`) {
		return
	}
	st := getJaegerState()
	defer putJaegerState(st)
	for first := true; s.more(']', &first); {
		if s.isNull() {
			continue
		}
		d.jaegerTraceWith(st)
	}
}

func (d *decoder) jaegerTraceWith(st *jaegerState) {
	s := d.s
	if !d.jaegerEnter('{', `a Jaeger trace object`) {
		return
	}
	d.recs = d.recs[:0]
	st.procs, st.kept, st.info = st.procs[:0], st.kept[:0], st.info[:0]
	var traceText []byte
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "traceID":
			if s.peek() == '"' {
				traceText = s.strStable()
			} else {
				s.skip()
			}
		case "spans":
			d.jaegerSpans(st)
		case "processes":
			d.jaegerProcesses(st)
		default: // warnings; a transformed trace's duration, services, …
			s.skip()
		}
	}
	if s.err != nil {
		return
	}
	var trace model.TraceID
	if len(traceText) > 0 {
		d.jaegerTraceID(st, &trace, traceText)
	}
	if len(st.procs) > 16 {
		if st.index == nil {
			st.index = map[string]int32{}
		}
		clear(st.index)
		for i := range st.procs {
			if id := st.procs[i].id; id != nil {
				if _, dup := st.index[string(id)]; !dup {
					st.index[string(id)] = int32(i)
				}
			}
		}
	}
	// Processes may follow the spans, so spans are emitted only now.
	for i := range d.recs {
		r, info := &d.recs[i], &st.info[i]
		if !info.hasTrace {
			r.trace = trace
		}
		for j := range r.links {
			l := &r.links[j]
			if l.Trace.IsZero() {
				l.Trace = r.trace
			}
			if l.ToTrace.IsZero() {
				l.ToTrace = r.trace
			}
		}
		p := int32(-1)
		if info.pid != nil {
			p = st.find(info.pid)
		}
		if p < 0 {
			p = info.proc
		}
		var resource []keptValue
		if p >= 0 {
			pr := &st.procs[p]
			r.service = pr.service
			resource = st.kept[pr.lo:pr.hi]
		}
		d.sk.emit(r, nil, resource)
	}
}

// find returns the index of the process with the given ID, or -1.
func (st *jaegerState) find(id []byte) int32 {
	if len(st.procs) > 16 {
		if i, ok := st.index[string(id)]; ok {
			return i
		}
		return -1
	}
	for i := range st.procs {
		if p := &st.procs[i]; p.id != nil && bytes.Equal(p.id, id) {
			return int32(i)
		}
	}
	return -1
}

// jaegerProcesses reads a trace's processes object.
func (d *decoder) jaegerProcesses(st *jaegerState) {
	s := d.s
	if s.isNull() || !d.jaegerEnter('{', `an object of processes as "processes"`) {
		return
	}
	for first := true; s.more('}', &first); {
		id := s.strStable()
		if s.peek() != ':' {
			s.unexpected("':'")
			return
		}
		s.pos++
		d.jaegerProcess(st, id)
	}
}

// jaegerProcess reads one process object and returns its index in st.procs,
// or -1 for null.
func (d *decoder) jaegerProcess(st *jaegerState, id []byte) int32 {
	s := d.s
	if s.isNull() || !d.jaegerEnter('{', `a process object`) {
		return -1
	}
	p := jaegerProc{id: id, lo: len(st.kept)}
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "serviceName":
			if s.peek() == '"' {
				p.service = s.strStable()
			} else {
				s.skip()
			}
		case "tags":
			d.jaegerTags(nil, st)
		default:
			s.skip()
		}
	}
	p.hi = len(st.kept)
	st.procs = append(st.procs, p)
	return int32(len(st.procs) - 1)
}

// jaegerSpans reads a trace's spans into d.recs and st.info.
func (d *decoder) jaegerSpans(st *jaegerState) {
	s := d.s
	if s.isNull() || !d.jaegerEnter('[', `an array of spans as "spans"`) {
		return
	}
	for first := true; s.more(']', &first); {
		if s.isNull() {
			continue
		}
		if len(d.recs) < cap(d.recs) {
			d.recs = d.recs[:len(d.recs)+1]
		} else {
			d.recs = append(d.recs, spanRec{})
		}
		r := &d.recs[len(d.recs)-1]
		r.reset()
		st.info = append(st.info, jaegerSpanInfo{proc: -1})
		d.jaegerSpan(r, st, &st.info[len(st.info)-1])
	}
}

// jaegerMaxMicros is the largest time in µs whose value in ns fits an int64.
const jaegerMaxMicros = math.MaxInt64 / 1000

func (d *decoder) jaegerSpan(r *spanRec, st *jaegerState, info *jaegerSpanInfo) {
	s := d.s
	s.ws()
	r.pos = s.pos
	if !d.jaegerEnter('{', `a span object`) {
		return
	}
	var dur int64
	var hasDur, hasParent bool
	var parent model.SpanID
	refs := st.refs[:0]
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "traceID":
			if v := d.jaegerIDText(r, "traceID"); len(v) > 0 {
				d.jaegerTraceID(st, &r.trace, v)
				info.hasTrace = true
			}
		case "spanID":
			r.id = jaegerSpanID(d.jaegerIDText(r, "spanID"))
		case "operationName":
			if s.peek() == '"' {
				r.name = s.strStable()
			} else {
				s.skip()
			}
		case "references":
			refs = d.jaegerRefs(r, st, refs)
		case "parentSpanID": // deprecated; references win
			if v := d.jaegerIDText(r, "parentSpanID"); len(v) > 0 {
				parent, hasParent = jaegerSpanID(v), true
			}
		case "startTime":
			r.start, r.hasStart = d.jaegerMicros(r, "startTime")
		case "duration":
			dur, hasDur = d.jaegerMicros(r, "duration")
		case "tags":
			d.jaegerTags(r, st)
		case "processID":
			if s.peek() == '"' {
				info.pid = s.strStable()
			} else {
				s.skip()
			}
		case "process": // embedded, in older UI downloads
			info.proc = d.jaegerProcess(st, nil)
		default: // logs, warnings, flags; depth, hasChildren, childSpanIds, relativeStartTime
			s.skip()
		}
	}
	st.refs = refs
	if s.err != nil {
		return
	}

	// Times are µs; the span ends at start+duration.
	if r.hasStart {
		if r.start > jaegerMaxMicros || r.start < -jaegerMaxMicros {
			jaegerBad(r, "span %q: startTime %d µs is out of range", r.name, r.start)
		}
		if hasDur {
			if dur > jaegerMaxMicros || dur < -jaegerMaxMicros || r.start+dur > jaegerMaxMicros || r.start+dur < -jaegerMaxMicros {
				jaegerBad(r, "span %q: duration %d µs is out of range", r.name, dur)
			}
			r.end, r.hasEnd = (r.start+dur)*1000, true
		}
		r.start *= 1000
	}

	// The parent is the first CHILD_OF reference in the same trace, else the
	// first FOLLOWS_FROM one; every other reference is a link.
	pi, fi := -1, -1
	for i := range refs {
		ref := &refs[i]
		if ref.span == 0 || (ref.hasTrace && info.hasTrace && ref.trace != r.trace) {
			continue
		}
		switch {
		case ref.typ == jaegerChildOf && pi < 0:
			pi = i
		case ref.typ == jaegerFollowsFrom && fi < 0:
			fi = i
		}
	}
	if pi < 0 && fi >= 0 {
		pi = fi
		r.flags |= model.FlagFollowsFrom
	}
	switch {
	case pi >= 0:
		r.parent = refs[pi].span
	case hasParent:
		r.parent = parent
	}
	for i := range refs {
		ref := &refs[i]
		if i == pi || ref.span == 0 {
			continue
		}
		// Zero trace IDs are filled in at the end of the trace.
		r.links = append(r.links, model.Link{Trace: r.trace, From: r.id, ToTrace: ref.trace, To: ref.span})
	}
}

// jaegerMicros reads a time in µs. Plain digits, as Jaeger writes them, are
// read in place; anything else goes the general way (strings, exponents,
// nulls, errors).
func (d *decoder) jaegerMicros(r *spanRec, field string) (int64, bool) {
	s := d.s
	s.ws()
	buf := s.buf
	i := s.pos
	if i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
		var v int64
		j := i
		for ; j < len(buf) && j-i < 18 && buf[j] >= '0' && buf[j] <= '9'; j++ {
			v = v*10 + int64(buf[j]-'0')
		}
		if j < len(buf) {
			switch buf[j] {
			case ',', '}', ' ', '\n', '\r', '\t':
				s.pos = j
				return v, true
			}
		}
	}
	return d.time(r, field)
}

// jaegerBad marks the span unusable, keeping the first reason.
func jaegerBad(r *spanRec, format string, args ...any) {
	if r.bad == "" {
		r.bad = fmt.Sprintf(format, args...)
	}
}

// jaegerEnter consumes the opening byte of an object or array, or fails
// naming what was expected there.
func (d *decoder) jaegerEnter(open byte, what string) bool {
	if d.s.peek() != open {
		d.s.unexpected(what)
		return false
	}
	d.s.pos++
	return true
}

// jaegerIDText reads an ID string. Null gives nil; another kind of value
// makes the span bad.
func (d *decoder) jaegerIDText(r *spanRec, field string) []byte {
	s := d.s
	switch s.peek() {
	case '"':
		return s.str()
	case 'n':
		if s.isNull() {
			return nil
		}
	}
	s.skip()
	if s.err == nil {
		jaegerBad(r, "span %q: %s is not a string", r.name, field)
	}
	return nil
}

// jaegerRefs appends a span's references to refs. A reference's "span" (the
// whole referenced span, in transformed traces) is skipped, never followed.
func (d *decoder) jaegerRefs(r *spanRec, st *jaegerState, refs []jaegerRef) []jaegerRef {
	s := d.s
	if s.isNull() || !d.jaegerEnter('[', `an array of references as "references"`) {
		return refs
	}
	for first := true; s.more(']', &first); {
		if s.isNull() {
			continue
		}
		if !d.jaegerEnter('{', `a reference object`) {
			return refs
		}
		var ref jaegerRef
		for first := true; s.more('}', &first); {
			switch string(s.key()) {
			case "refType":
				if s.peek() != '"' {
					s.skip()
					continue
				}
				switch string(s.str()) {
				case "CHILD_OF", "child_of", "childOf":
					ref.typ = jaegerChildOf
				case "FOLLOWS_FROM", "follows_from", "followsFrom":
					ref.typ = jaegerFollowsFrom
				}
			case "traceID":
				if v := d.jaegerIDText(r, "references traceID"); len(v) > 0 {
					d.jaegerTraceID(st, &ref.trace, v)
					ref.hasTrace = true
				}
			case "spanID":
				ref.span = jaegerSpanID(d.jaegerIDText(r, "references spanID"))
			default: // span: the referenced span itself, nested recursively
				s.skip()
			}
		}
		refs = append(refs, ref)
	}
	return refs
}

// jaegerTags reads a tag list [{key,type,value}]. With r, span tags set the
// kind and error flag and kept ones go to r.attrs; without, they are process
// tags and kept ones go to st.kept.
func (d *decoder) jaegerTags(r *spanRec, st *jaegerState) {
	s := d.s
	if s.isNull() || !d.jaegerEnter('[', `an array of tags as "tags"`) {
		return
	}
	for first := true; s.more(']', &first); {
		if s.isNull() {
			continue
		}
		key, raw, fast := d.jaegerFastTag()
		if !fast && !d.jaegerEnter('{', `a tag object`) {
			return
		}
		for first := true; !fast && s.more('}', &first); {
			switch string(s.key()) {
			case "key":
				if s.peek() == '"' {
					key = s.strStable()
				} else {
					s.skip()
				}
			case "value":
				raw = s.raw()
			default: // type: the value's JSON form says enough
				s.skip()
			}
		}
		if s.err != nil {
			return
		}
		if len(raw) == 0 || !d.wanted(key) {
			continue
		}
		v, ok := d.jaegerTagValue(raw)
		if !ok {
			continue
		}
		if r == nil {
			if i := d.sk.keepIndex(key); i >= 0 {
				st.kept = append(st.kept, keptValue{key: i, val: v})
			}
			continue
		}
		switch string(key) {
		case "span.kind":
			r.kind = jaegerKind(v)
		case "error":
			if string(v) == "true" {
				r.flags |= model.FlagError
			}
		case "otel.status_code":
			if string(v) == "ERROR" {
				r.flags |= model.FlagError
			}
		}
		if i := d.sk.keepIndex(key); i >= 0 {
			r.attrs = append(r.attrs, keptValue{key: i, val: v})
		}
	}
}

// jaegerFastTag reads a tag written as Jaeger writes it, compactly with its
// fields in order: {"key":"…","type":"…","value":…}. It reports false, having
// consumed nothing, for any other form; the general loop then reads it. The
// value is returned only when the key is wanted.
func (d *decoder) jaegerFastTag() (key, raw []byte, ok bool) {
	const open, typ, val = `{"key":"`, `","type":"`, `","value":`
	s := d.s
	buf, start := s.buf, s.pos
	if !hasPrefixAt(buf, start, open) {
		return nil, nil, false
	}
	end, escaped := s.strEnd(start + len(open))
	if end < 0 || escaped || !hasPrefixAt(buf, end, typ) {
		return nil, nil, false
	}
	tend, escaped := s.strEnd(end + len(typ))
	if tend < 0 || escaped || !hasPrefixAt(buf, tend, val) {
		return nil, nil, false
	}
	s.pos = tend + len(val)
	return d.finishFast(start, buf[start+len(open):end], false)
}

// jaegerTagValue returns a tag value as text: strings unescaped (int64 as a
// string, base64 binary), numbers and booleans as written. Null is no value.
func (d *decoder) jaegerTagValue(raw []byte) ([]byte, bool) {
	switch raw[0] {
	case '"':
		sub := &d.sub
		sub.reset(raw)
		v := sub.strStable()
		return v, sub.err == nil
	case 'n':
		return nil, false
	}
	return raw, true
}

func jaegerKind(v []byte) model.Kind {
	switch string(v) {
	case "server":
		return model.KindServer
	case "client":
		return model.KindClient
	case "producer":
		return model.KindProducer
	case "consumer":
		return model.KindConsumer
	case "internal":
		return model.KindInternal
	}
	return model.ParseKind(string(v))
}

// jaegerTraceID sets dst from a trace ID's text: hex of up to 32 digits
// right-aligned, anything else hashed. The text of short and hashed IDs is
// kept for reports.
func (d *decoder) jaegerTraceID(st *jaegerState, dst *model.TraceID, v []byte) {
	// Every span and reference repeats its trace's ID: decode it once.
	if len(v) == len(st.lastText) && bytes.Equal(v, st.lastText) {
		*dst = st.lastID
		return
	}
	if !decodeHexID(dst[:], v) {
		*dst = jaegerHash128(v)
		d.jaegerKeepText(*dst, v)
	} else if len(v) < 16 {
		d.jaegerKeepText(*dst, v)
	}
	st.lastText, st.lastID = append(st.lastText[:0], v...), *dst
}

// jaegerKeepText records the text of an opaque trace ID.
func (d *decoder) jaegerKeepText(id model.TraceID, v []byte) {
	if _, ok := d.sk.idText[id]; !ok {
		d.sk.idText[id] = string(v)
	}
}

// jaegerSpanID returns the SpanID of a span ID's text: hex of up to 16
// digits, anything else hashed (never to 0). Empty text is 0.
func jaegerSpanID(v []byte) model.SpanID {
	if len(v) == 0 {
		return 0
	}
	if len(v) <= 16 {
		var x uint64
		var bad byte
		for _, c := range v {
			h := jaegerHexVal[c]
			bad |= h
			x = x<<4 | uint64(h&0x0f)
		}
		if bad&0x80 == 0 {
			return model.SpanID(x)
		}
	}
	if h := jaegerHash64(v); h != 0 {
		return model.SpanID(h)
	}
	return 1
}

// jaegerHexVal maps a hex digit to its value and every other byte to 0xff.
var jaegerHexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range 10 {
		t['0'+i] = byte(i)
	}
	for i := range 6 {
		t['a'+i], t['A'+i] = byte(10+i), byte(10+i)
	}
	return t
}()

// jaegerHash64 is FNV-1a, 64 bits.
func jaegerHash64(v []byte) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, c := range v {
		h ^= uint64(c)
		h *= 0x100000001b3
	}
	return h
}

// jaegerHash128 is FNV-1a, 128 bits, as hash/fnv's New128a computes it.
func jaegerHash128(v []byte) model.TraceID {
	hi, lo := uint64(0x6c62272e07bb0142), uint64(0x62b821756295c58d)
	for _, c := range v {
		lo ^= uint64(c)
		// Multiply by the prime 2^88 + 0x13b, modulo 2^128.
		carry, l := bits.Mul64(lo, 0x13b)
		hi = hi*0x13b + carry + lo<<24
		lo = l
	}
	var t model.TraceID
	for i := range 8 {
		t[i] = byte(hi >> (56 - 8*i))
		t[8+i] = byte(lo >> (56 - 8*i))
	}
	if t.IsZero() {
		t[15] = 1
	}
	return t
}
