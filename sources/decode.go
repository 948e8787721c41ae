package sources

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/trace-forensics/trace-forensics/model"
)

// decoder reads the JSON values of one input buffer into a sink. The top
// level is a pipeline of sniffers: the keys of the outermost object say which
// format follows, so OTLP, Tempo and Jaeger bodies need no flag.
type decoder struct {
	s        *scanner
	sub      scanner // for values re-read from raw bytes
	sk       *sink
	recs     []spanRec
	resAttrs []keptValue
	found    bool     // a trace container was recognised in this buffer
	format   string   // name of the last format recognised
	keys     []string // top-level keys seen, for "not a trace file" errors

	// the last trace ID decoded, raw and decoded (see sameTrace)
	lastTraceRaw [4]uint64
	lastTrace    model.TraceID
	lastTraceOK  bool

	newlines int // in the last JSON Lines batch decoded

	// spanNext[k] is the index in spanKeys of the key that followed key k
	// in the last span read (spanNext[numSpanKeys]: its first key).
	spanNext [numSpanKeys + 1]uint8
}

func newDecoder(sk *sink) *decoder {
	d := &decoder{s: &scanner{}, sk: sk}
	for k := range numSpanKeys {
		d.spanNext[k] = uint8(k + 1) // until spans show otherwise, the table's order
	}
	return d
}

// maxWrapperDepth bounds how many wrapper objects ({"result":{"trace":…}})
// are followed; real bodies have at most two.
const maxWrapperDepth = 4

// errNotTrace marks input that is valid JSON but holds no trace container.
var errNotTrace = errors.New("no trace data recognised")

// decodeAll decodes every JSON value in buf: one document, or a batch of
// JSON Lines. It returns syntax errors with their place in the input.
func (d *decoder) decodeAll(buf []byte) error {
	d.sk.buf = buf
	d.found, d.keys = false, d.keys[:0]
	if d.sk.lineBase > 0 || d.sk.lineAt != nil {
		// JSON Lines: each line is decoded on its own, so a broken line is
		// reported where it breaks, not where the next quote happens to be.
		d.newlines = 0
		for start := 0; start < len(buf); {
			end := bytes.IndexByte(buf[start:], '\n')
			if end < 0 {
				end = len(buf)
			} else {
				end += start
				d.newlines++
			}
			d.s.reset(buf[:end])
			d.s.pos = start
			for !d.s.eof() {
				d.value(0)
				if d.s.err != nil {
					return d.syntaxError()
				}
			}
			start = end + 1
		}
	} else {
		d.s.reset(buf)
		for !d.s.eof() {
			d.value(0)
			if d.s.err != nil {
				return d.syntaxError()
			}
		}
	}
	if !d.found {
		if len(d.keys) > 0 {
			return fmt.Errorf("%s: %w: top-level keys are %s", d.sk.file, errNotTrace, strings.Join(d.keys, ", "))
		}
		return fmt.Errorf("%s: %w", d.sk.file, errNotTrace)
	}
	return nil
}

func (d *decoder) syntaxError() error {
	return &SyntaxError{Where: d.sk.where(d.s.errPos), Offset: d.sk.byteBase + int64(d.s.errPos), Err: d.s.err}
}

// SyntaxError is malformed input, with the file and place it was found.
type SyntaxError struct {
	Where  string // "file: line N" or "file: byte N"
	Offset int64  // byte offset in the (decompressed) file
	Err    error
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s: %v", e.Where, e.Err) }

func (e *SyntaxError) Unwrap() error { return e.Err }

func (d *decoder) value(depth int) {
	switch d.s.peek() {
	case '{':
		d.object(depth)
	case '[':
		d.array(depth)
	default:
		d.s.unexpected("a JSON object or array")
	}
}

// object dispatches on the keys of a top-level or wrapper object.
func (d *decoder) object(depth int) {
	s := d.s
	start := s.pos
	if !s.enter('{') {
		return
	}
	for first := true; s.more('}', &first); {
		k := s.key()
		switch string(k) {
		case "resourceSpans", "resource_spans":
			d.format = "otlp-json"
			d.found = true
			d.resourceSpans(idHex)
		case "batches": // Tempo v1 JSON: OTLP-shaped, base64 IDs
			d.format = "tempo-json"
			d.found = true
			d.resourceSpans(idBase64)
		case "result", "trace": // Jaeger api_v3 and Tempo v2 wrappers
			if depth >= maxWrapperDepth {
				s.skip()
				continue
			}
			d.value(depth + 1)
		case "status": // Tempo v2: "PARTIAL" when some blocks were not read
			if s.peek() == '"' {
				if st := s.str(); string(st) == "PARTIAL" {
					d.sk.partial++
					d.sk.warnf(model.WarnPartialTrace, start, "the server marked this trace PARTIAL: some of its spans may be missing")
				}
				continue
			}
			s.skip()
		case "data": // Jaeger: {"data":[trace…]} or {"data":{trace}}
			d.format = "jaeger-json"
			d.found = true
			d.jaegerData()
		case "errors": // Jaeger: failed trace lookups
			d.jaegerErrors()
		case "traceID", "spans", "processes": // one bare Jaeger trace
			s.pos = start
			d.format = "jaeger-json"
			d.found = true
			d.jaegerTrace()
			return
		default:
			if depth == 0 && !d.found && len(d.keys) < 8 {
				d.keys = append(d.keys, string(k)) // for the "not a trace file" message
			}
			s.skip()
		}
	}
}

// array handles a top-level array: Jaeger's bare list of traces, or Zipkin
// v2 spans (a list of spans, or a list of traces that are lists of spans).
func (d *decoder) array(depth int) {
	switch d.sniffArray() {
	case "jaeger":
		d.format = "jaeger-json"
		d.found = true
		d.jaegerTraceArray()
	case "zipkin":
		d.format = "zipkin-json"
		d.found = true
		d.zipkinArray()
	case "empty":
		d.s.skip()
	default:
		d.s.skip()
		if d.s.err == nil && depth == 0 && len(d.keys) < 8 {
			d.keys = append(d.keys, "(a JSON array of unknown items)")
		}
	}
}

// sniffArray looks at the keys of the first object in the array (or in its
// first inner array) without consuming anything.
func (d *decoder) sniffArray() string {
	save := *d.s
	defer func() { *d.s = save }()
	s := d.s
	s.scratch = nil
	if !s.enter('[') {
		return ""
	}
	switch s.peek() {
	case ']':
		return "empty"
	case '[': // Zipkin: an array of traces
		s.pos++
	}
	if s.peek() != '{' {
		return ""
	}
	s.pos++
	for first := true; s.more('}', &first); {
		switch string(s.key()) {
		case "spans", "processes", "traceID":
			return "jaeger"
		case "traceId", "id", "localEndpoint", "parentId", "timestamp":
			return "zipkin"
		}
		s.skip()
	}
	return ""
}
