package sources

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/trace-forensics/trace-forensics/model"
)

// This file reads OTLP/JSON: ExportTraceServiceRequest and TracesData
// documents, the Collector file exporter's lines, and the OTLP-shaped bodies
// of Jaeger api_v3 and Tempo. Both key casings, integer and named enums,
// 64-bit numbers as strings or numbers and the legacy
// instrumentationLibrarySpans are accepted.

// idEncoding says how a format writes trace and span IDs.
type idEncoding uint8

const (
	idHex    idEncoding = iota // OTLP/JSON: lowercase or uppercase hex
	idBase64                   // Tempo's JSON: base64 of the raw bytes
)

// strStable reads a string that must stay valid while the input buffer does:
// unescaped content aliases the input, escaped content is copied.
func (s *scanner) strStable() []byte {
	v := s.str()
	if s.err != nil || len(v) == 0 {
		return v
	}
	// Aliases the input unless it was unescaped into scratch.
	if &v[0] == &s.buf[s.pos-1-len(v)] {
		return v
	}
	return append([]byte(nil), v...)
}

// resourceSpans reads the array of ResourceSpans (or Tempo's batches).
func (d *decoder) resourceSpans(enc idEncoding) {
	s := d.s
	if s.isNull() {
		return
	}
	if !s.enter('[') {
		return
	}
	for first := true; s.more(']', &first); {
		d.resourceSpan(enc)
	}
}

func (d *decoder) resourceSpan(enc idEncoding) {
	s := d.s
	if s.isNull() {
		return
	}
	if !s.enter('{') {
		return
	}
	d.recs = d.recs[:0]
	var service []byte
	resource := d.resAttrs[:0]
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "resource":
			service, resource = d.resource(resource)
		case "scopeSpans", "scope_spans", "instrumentationLibrarySpans", "instrumentation_library_spans":
			d.scopeSpans(enc)
		default:
			s.skip()
		}
	}
	d.resAttrs = resource
	d.found = true
	if s.err != nil {
		return
	}
	// The resource may follow its spans, so spans are emitted only now.
	for i := range d.recs {
		d.sk.emit(&d.recs[i], service, resource)
	}
}

// resource reads a Resource and returns its service.name and kept attributes.
func (d *decoder) resource(kept []keptValue) ([]byte, []keptValue) {
	s := d.s
	var service []byte
	if s.isNull() {
		return nil, kept
	}
	if !s.enter('{') {
		return nil, kept
	}
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "attributes":
			d.attributes(func(k []byte, v []byte, _ anyKind) {
				if string(k) == "service.name" {
					service = v
				}
				if i := d.sk.keepIndex(k); i >= 0 {
					kept = append(kept, keptValue{key: i, val: v})
				}
			})
		default:
			s.skip()
		}
	}
	return service, kept
}

func (d *decoder) scopeSpans(enc idEncoding) {
	s := d.s
	if s.isNull() {
		return
	}
	if !s.enter('[') {
		return
	}
	for first := true; s.more(']', &first); {
		if s.isNull() {
			continue
		}
		if !s.enter('{') {
			return
		}
		for first := true; s.more('}', &first); {
			switch string(s.key()) {
			case "spans":
				d.spans(enc)
			default: // scope, instrumentationLibrary, schemaUrl
				s.skip()
			}
		}
	}
}

func (d *decoder) spans(enc idEncoding) {
	s := d.s
	if s.isNull() {
		return
	}
	if !s.enter('[') {
		return
	}
	for first := true; s.more(']', &first); {
		if len(d.recs) < cap(d.recs) {
			d.recs = d.recs[:len(d.recs)+1]
		} else {
			d.recs = append(d.recs, spanRec{})
		}
		r := &d.recs[len(d.recs)-1]
		r.reset()
		d.span(r, enc)
	}
}

// anyKind says which AnyValue field held an attribute's value.
type anyKind uint8

const (
	anyString anyKind = iota
	anyBool
	anyInt
	anyDouble
	anyOther
)

// attributes reads a KeyValue list and calls fn for the attributes whose
// value the caller may need: all of them, as the caller filters by key. The
// value bytes are only decoded for keys the sink keeps or knows.
func (d *decoder) attributes(fn func(k, v []byte, kind anyKind)) {
	s := d.s
	if s.isNull() {
		return
	}
	if !s.enter('[') {
		return
	}
	for first := true; s.more(']', &first); {
		if key, v, ok := d.stringAttribute(); ok {
			fn(key, v, anyString)
			continue
		}
		if key, raw, ok := d.fastAttribute(); ok {
			if v, ok := plainStringValue(raw); ok {
				fn(key, v, anyString)
			} else if raw != nil {
				v, kind := d.anyValue(raw)
				fn(key, v, kind)
			}
			continue
		}
		if s.isNull() {
			continue
		}
		if !s.enter('{') {
			return
		}
		var key, raw []byte
		for first := true; s.more('}', &first); {
			switch string(s.key()) {
			case "key":
				key = s.strStable()
			case "value":
				raw = s.raw()
			default:
				s.skip()
			}
		}
		if s.err != nil {
			return
		}
		if !d.wanted(key) || raw == nil {
			continue
		}
		v, kind := d.anyValue(raw)
		fn(key, v, kind)
	}
}

// stringAttribute reads {"key":"k","value":{"stringValue":"v"}} written
// with no spaces or escapes, the form of nearly every attribute, in one
// pass, and returns both texts whether or not the key is wanted (the
// callers' functions pick theirs). It reports false, consuming nothing,
// for any other form.
func (d *decoder) stringAttribute() (key, val []byte, ok bool) {
	s := d.s
	const open, mid, tail = `{"key":"`, `","value":{"stringValue":"`, `"}}`
	buf, start := s.buf, s.pos
	if !hasPrefixAt(buf, start, open) {
		return nil, nil, false
	}
	keyEnd, escaped := s.strEnd(start + len(open))
	if keyEnd < 0 || escaped || !hasPrefixAt(buf, keyEnd, mid) {
		return nil, nil, false
	}
	valStart := keyEnd + len(mid)
	valEnd, escaped := s.strEnd(valStart)
	if valEnd < 0 || escaped || !hasPrefixAt(buf, valEnd, tail) {
		return nil, nil, false
	}
	s.pos = valEnd + len(tail)
	return buf[start+len(open) : keyEnd], buf[valStart:valEnd], true
}

// fastAttribute reads an attribute written the way every OTLP/JSON producer
// writes it, {"key":"k","value":{…}} with no spaces or escapes in the key,
// and skips the value unless the key is wanted (then raw holds it). It
// reports false, consuming nothing, for any other layout.
func (d *decoder) fastAttribute() (key, raw []byte, ok bool) {
	s := d.s
	const open, mid = `{"key":"`, `","value":`
	buf, start := s.buf, s.pos
	if !hasPrefixAt(buf, start, open) {
		return nil, nil, false
	}
	end, escaped := s.strEnd(start + len(open))
	if end < 0 || escaped || !hasPrefixAt(buf, end, mid) {
		return nil, nil, false
	}
	s.pos = end + len(mid)
	return d.finishFast(start, buf[start+len(open):end], true)
}

// finishFast reads the value of a key/value object on a fast path, whose
// key was just read, then its closing brace: the value is returned only when
// the key is wanted, and skipped otherwise (as an OTLP AnyValue when
// anyValue). On anything unexpected it rewinds to start and reports false,
// so the general loop reads the object instead.
func (d *decoder) finishFast(start int, key []byte, anyValue bool) (k, raw []byte, ok bool) {
	s := d.s
	switch {
	case d.wanted(key):
		raw = s.raw()
	case anyValue:
		s.skipAnyValue()
	default:
		s.skip()
	}
	if s.err != nil || s.peek() != '}' {
		s.pos, s.err = start, nil
		return nil, nil, false
	}
	s.pos++
	return key, raw, true
}

func hasPrefixAt(buf []byte, at int, p string) bool {
	return at >= 0 && at+len(p) <= len(buf) && string(buf[at:at+len(p)]) == p
}

// plainStringValue returns the text of an AnyValue written exactly as
// {"stringValue":"…"} with no escapes, the form of most kept values, without
// scanning it again.
func plainStringValue(raw []byte) ([]byte, bool) {
	const open, end = `{"stringValue":"`, `"}`
	if len(raw) < len(open)+len(end) || string(raw[:len(open)]) != open || string(raw[len(raw)-len(end):]) != end {
		return nil, false
	}
	v := raw[len(open) : len(raw)-len(end)]
	if bytes.IndexByte(v, '"') >= 0 || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v, true
}

// wanted reports whether an attribute's value is needed at all.
func (d *decoder) wanted(key []byte) bool {
	switch string(key) {
	case "service.name", "error", "span.kind", "otel.status_code":
		return true
	}
	return d.sk.keepIndex(key) >= 0
}

// anyValue decodes an AnyValue object given as raw bytes into text.
func (d *decoder) anyValue(raw []byte) ([]byte, anyKind) {
	sub := &d.sub
	sub.reset(raw)
	var v []byte
	kind := anyOther
	if sub.isNull() || !sub.enter('{') {
		return nil, kind
	}
	for first := true; sub.more('}', &first); {
		switch string(sub.key()) {
		case "stringValue", "string_value":
			v, kind = sub.strStable(), anyString
		case "boolValue", "bool_value":
			v, kind = sub.raw(), anyBool
		case "intValue", "int_value":
			if sub.peek() == '"' {
				v = sub.strStable()
			} else {
				v = sub.raw()
			}
			kind = anyInt
		case "doubleValue", "double_value":
			v, kind = sub.raw(), anyDouble
		default: // arrayValue, kvlistValue, bytesValue: kept as written
			v, kind = sub.raw(), anyOther
		}
	}
	if sub.err != nil {
		return nil, anyOther
	}
	return v, kind
}

// sameTrace reuses the previous span's trace ID when the next 32 hex digits
// are the same as its: producers write a trace's spans together, and four
// word compares cost less than decoding.
func (d *decoder) sameTrace(r *spanRec) bool {
	s := d.s
	i := s.pos
	if !d.lastTraceOK || i+33 >= len(s.buf) || s.buf[i] != '"' || s.buf[i+33] != '"' {
		return false
	}
	b := s.buf[i+1 : i+33]
	for k := 0; k < 4; k++ {
		if binary.LittleEndian.Uint64(b[8*k:]) != d.lastTraceRaw[k] {
			return false
		}
	}
	r.trace = d.lastTrace
	s.pos = i + 34
	return true
}

// newTrace decodes a 32-digit hex trace ID and remembers it for sameTrace.
func (d *decoder) newTrace(r *spanRec) bool {
	s := d.s
	i := s.pos
	if !s.hexTraceID(&r.trace) {
		return false
	}
	b := s.buf[i+1 : i+33]
	for k := 0; k < 4; k++ {
		d.lastTraceRaw[k] = binary.LittleEndian.Uint64(b[8*k:])
	}
	d.lastTrace, d.lastTraceOK = r.trace, true
	return true
}

// spanKeys is the order the OpenTelemetry SDKs and the Collector write a
// span's fields in.
var spanKeys = newKeyTable("traceId|trace_id", "spanId|span_id", "parentSpanId|parent_span_id", "flags", "name", "kind",
	"startTimeUnixNano|start_time_unix_nano", "endTimeUnixNano|end_time_unix_nano", "attributes", "events", "links", "status")

// Indexes in spanKeys.
const (
	keyTraceID = iota
	keySpanID
	keyParentSpanID
	keyFlags
	keyName
	keyKind
	keyStart
	keyEnd
	keyAttributes
	keyEvents
	keyLinks
	keyStatus
	numSpanKeys
)

func (d *decoder) span(r *spanRec, enc idEncoding) {
	s := d.s
	s.ws()
	r.pos = s.pos
	if !s.enter('{') {
		return
	}
	statusErr := false
	// prev indexes d.spanNext: the key read last, or numSpanKeys before the
	// first; d.spanNext remembers which key followed it in the last span.
	prev := numSpanKeys
	for first := true; s.more('}', &first); {
		k := s.keyFrom(spanKeys, int(d.spanNext[prev]))
		if k >= 0 {
			d.spanNext[prev] = uint8(k)
			prev = k
		}
		switch k {
		case keyTraceID:
			if enc != idHex || !d.sameTrace(r) && !d.newTrace(r) {
				d.traceID(r, s.str(), enc)
			}
		case keySpanID:
			r.id = d.hexOrSpanID(r, enc, "spanId")
		case keyParentSpanID:
			if s.isNull() {
				continue
			}
			r.parent = d.hexOrSpanID(r, enc, "parentSpanId")
		case keyName:
			r.name = s.strStable()
		case keyKind:
			r.kind = d.kind(r)
		case keyStart:
			r.start, r.hasStart = d.time(r, "startTimeUnixNano")
		case keyEnd:
			r.end, r.hasEnd = d.time(r, "endTimeUnixNano")
		case keyAttributes:
			d.attributes(func(k, v []byte, kind anyKind) {
				switch string(k) {
				case "error":
					if string(v) == "true" {
						r.flags |= model.FlagError
					}
				case "otel.status_code":
					if string(v) == "ERROR" {
						r.flags |= model.FlagError
					}
				}
				if i := d.sk.keepIndex(k); i >= 0 {
					r.attrs = append(r.attrs, keptValue{key: i, val: v})
				}
			})
		case keyStatus:
			statusErr = d.status()
		case keyLinks:
			d.links(r, enc)
		default: // events, flags, traceState, dropped counts
			s.skip()
		}
	}
	if statusErr {
		r.flags |= model.FlagError
	}
}

func (d *decoder) time(r *spanRec, field string) (int64, bool) {
	if v, ok := d.s.nanosString(); ok {
		return v, true
	}
	if d.s.isNull() {
		return 0, false
	}
	v, err := d.s.int64Value()
	if err != nil {
		if d.s.err == nil && r.bad == "" {
			r.bad = fmt.Sprintf("span %q: %s is %s", r.name, field, err)
		}
		return 0, false
	}
	return v, true
}

func (d *decoder) kind(r *spanRec) model.Kind {
	s := d.s
	// The usual form: one digit.
	if i := s.pos; i+1 < len(s.buf) && s.buf[i] >= '0' && s.buf[i] <= '5' && (s.buf[i+1] == ',' || s.buf[i+1] == '}') {
		s.pos++
		return model.Kind(s.buf[i] - '0')
	}
	if s.peek() == '"' {
		return parseKindBytes(s.str())
	}
	v, err := s.int64Value()
	if err != nil || v < 0 || v > int64(model.KindConsumer) {
		return model.KindUnspecified
	}
	return model.Kind(v)
}

// status reads a Status object and reports whether its code is ERROR.
func (d *decoder) status() bool {
	s := d.s
	isErr := false
	if s.isNull() || !s.enter('{') {
		return false
	}
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "code":
			if s.peek() == '"' {
				c := string(s.str())
				isErr = c == "STATUS_CODE_ERROR" || c == "2" || c == "ERROR"
			} else {
				v, err := s.int64Value()
				isErr = err == nil && v == 2
			}
		default:
			s.skip()
		}
	}
	return isErr
}

func (d *decoder) links(r *spanRec, enc idEncoding) {
	s := d.s
	if s.isNull() || !s.enter('[') {
		return
	}
	for first := true; s.more(']', &first); {
		if !s.enter('{') {
			return
		}
		var l model.Link
		for first := true; s.more('}', &first); {
			switch string(s.key()) {
			case "traceId", "trace_id":
				var tmp spanRec
				d.traceID(&tmp, s.str(), enc)
				l.ToTrace = tmp.trace
			case "spanId", "span_id":
				var tmp spanRec
				l.To = d.spanID(&tmp, s.str(), enc, "link spanId")
			default:
				s.skip()
			}
		}
		if l.To != 0 {
			r.links = append(r.links, l)
		}
	}
	for i := range r.links {
		r.links[i].Trace, r.links[i].From = r.trace, r.id
	}
}

func (d *decoder) traceID(r *spanRec, v []byte, enc idEncoding) {
	ok := decodeID(r.trace[:], v, enc)
	if !ok && r.bad == "" {
		r.bad = fmt.Sprintf("traceId %q is not a valid ID", clip(v))
	}
}

func (d *decoder) spanID(r *spanRec, v []byte, enc idEncoding, field string) model.SpanID {
	if len(v) == 0 {
		return 0
	}
	var b [8]byte
	if !decodeID(b[:], v, enc) {
		if r.bad == "" {
			r.bad = fmt.Sprintf("%s %q is not a valid ID", field, clip(v))
		}
		return 0
	}
	return spanIDOf(b)
}

// hexOrSpanID reads a span ID, on the fast path when it is 16 hex digits.
func (d *decoder) hexOrSpanID(r *spanRec, enc idEncoding, field string) model.SpanID {
	if enc == idHex {
		if id, ok := d.s.hexSpanID(); ok {
			return id
		}
	}
	return d.spanID(r, d.s.str(), enc, field)
}

func spanIDOf(b [8]byte) model.SpanID { return model.SpanID(binary.BigEndian.Uint64(b[:])) }

// decodeID decodes an ID in the format's encoding, or else in the other one
// at full length: Tempo's v2 answers wrap base64 IDs in an OTLP-shaped body.
// The two cannot be confused: base64 of 16 or 8 bytes ends in '=', and 32 or
// 16 hex digits decode as base64 to too many bytes.
func decodeID(dst, v []byte, enc idEncoding) bool {
	if enc == idBase64 {
		return decodeBase64ID(dst, v) || len(v) == 2*len(dst) && decodeHexID(dst, v)
	}
	return decodeHexID(dst, v) ||
		len(v) == base64.StdEncoding.EncodedLen(len(dst)) && v[len(v)-1] == '=' && decodeBase64ID(dst, v)
}

// decodeHexID decodes up to len(dst)*2 hex digits right-aligned into dst.
func decodeHexID(dst []byte, v []byte) bool {
	if len(v) == 0 || len(v) > 2*len(dst) {
		return false
	}
	if len(v) == 2*len(dst) && len(v)%8 == 0 { // the usual case: full length
		for i := 0; i < len(v); i += 8 {
			w, ok := hex8(binary.LittleEndian.Uint64(v[i:]))
			if !ok {
				return false
			}
			binary.LittleEndian.PutUint32(dst[i/2:], w)
		}
		return true
	}
	if len(v) == 2*len(dst) {
		bad := byte(0)
		for i := range dst {
			hi, lo := hexVal[v[2*i]], hexVal[v[2*i+1]]
			bad |= hi | lo
			dst[i] = hi<<4 | lo&0x0f
		}
		return bad&0x80 == 0
	}
	clear(dst)
	j := len(dst) - 1
	for i := len(v) - 1; i >= 0; i -= 2 {
		lo := hexVal[v[i]]
		hi := byte(0)
		if i > 0 {
			hi = hexVal[v[i-1]]
		}
		if (hi|lo)&0x80 != 0 {
			return false
		}
		dst[j] = hi<<4 | lo
		j--
	}
	return true
}

// hex8 decodes eight ASCII hex digits (either case) held in a
// little-endian word into four bytes, eight at a time with no table.
func hex8(v uint64) (uint32, bool) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	if v&highs != 0 {
		return 0, false
	}
	// Per byte, with no carries between bytes since every byte is < 0x80:
	// a digit is 0x30..0x39, a letter (case folded) 0x61..0x66.
	digit := (v + (0x80-0x30)*ones) & ^(v + (0x80-0x3a)*ones) & highs
	l := v | 0x20*ones
	letter := (l + (0x80-0x61)*ones) & ^(l + (0x80-0x67)*ones) & highs
	if digit|letter != highs {
		return 0, false
	}
	nib := v&(0x0f*ones) + (letter>>7)*9
	// Pack nibble pairs into bytes, then the bytes together.
	x := (nib<<4 | nib>>8) & 0x00ff00ff00ff00ff
	x = (x | x>>8) & 0x0000ffff0000ffff
	x = (x | x>>16) & 0x00000000ffffffff
	return uint32(x), true
}

// hexVal maps a hex digit to its value and every other byte to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

// decodeBase64ID decodes base64 of at most len(dst) raw bytes, right-aligned.
func decodeBase64ID(dst []byte, v []byte) bool {
	if len(v) > 32 {
		return false
	}
	var tmp [24]byte
	n, err := base64.StdEncoding.Decode(tmp[:], v)
	if err != nil {
		n, err = base64.RawStdEncoding.Decode(tmp[:], v)
	}
	if err != nil || n == 0 || n > len(dst) {
		return false
	}
	clear(dst)
	copy(dst[len(dst)-n:], tmp[:n])
	return true
}

// clip shortens a value quoted in a message.
func clip(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "…"
	}
	return string(v)
}

// parseKindBytes is ParseKind for the exact forms readers meet, without
// allocating; other spellings go through ParseKind.
func parseKindBytes(b []byte) model.Kind {
	switch string(b) {
	case "SPAN_KIND_SERVER", "server":
		return model.KindServer
	case "SPAN_KIND_CLIENT", "client":
		return model.KindClient
	case "SPAN_KIND_INTERNAL", "internal":
		return model.KindInternal
	case "SPAN_KIND_PRODUCER", "producer":
		return model.KindProducer
	case "SPAN_KIND_CONSUMER", "consumer":
		return model.KindConsumer
	case "SPAN_KIND_UNSPECIFIED", "unspecified", "":
		return model.KindUnspecified
	}
	return model.ParseKind(string(b))
}
