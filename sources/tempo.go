package sources

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/trace-forensics/trace-forensics/model"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// This file reads Grafana Tempo's protobuf answers saved to disk. Tempo's
// JSON answers need nothing of their own: /api/traces/{id} is OTLP-shaped
// under "batches" with base64 IDs (otlp.go, idBase64, both scopeSpans and
// instrumentationLibrarySpans), and /api/v2/traces/{id} wraps OTLP in
// {"trace":…,"status":"PARTIAL"} (decode.go).
//
// Protobuf comes in two layouts:
//   - /api/traces/{id} with Accept: application/protobuf answers a
//     tempopb.Trace, whose wire layout is OTLP TracesData's: field 1,
//     repeated ResourceSpans.
//   - /api/v2/traces/{id} answers a TraceByIDResponse: the Trace in field 1,
//     metrics in 2, a PartialStatus in 3 (1 = PARTIAL) and a message in 4.
//
// Recognising a protobuf file by content. A saved answer has no length
// prefix (unlike the Collector's file exporter records) and no magic number.
// Its first byte is 0x0a, the tag of field 1 with length-delimited wire type,
// followed by a varint length and then the first tag of the embedded message:
// 0x0a, 0x12 or 0x1a (ResourceSpans' resource, scope_spans, schema_url; or a
// Trace's first ResourceSpans), or 0xc2 0x3e (the deprecated
// instrumentation_library_spans, field 1000), itself followed by a plausible
// length. 0x0a is also '\n', so a JSON text that starts with a blank line
// could begin the same way; JSON is therefore ruled out first: if the first
// byte that is not JSON whitespace is '{' or '[', the input is JSON. A real
// OTLP message never has that shape — after at most a few length bytes that
// happen to be whitespace values, a tag or the key of a KeyValue follows,
// and none of them is '{' (0x7b: field 15, a deprecated group) or '['
// (0x5b: field 11, a group too). What passes the check is then decoded by
// the Collector's own protobuf decoder, and input it rejects is reported as
// "not a trace file", never as spans.

// tracesProtoPeek is how many bytes isTracesProto needs to look at.
const tracesProtoPeek = 32

// maxTracesProto caps the size of one protobuf document read whole.
const maxTracesProto = 1 << 30

// isTracesProto reports whether head, the first bytes of an input after
// decompression, starts a protobuf OTLP TracesData, tempopb.Trace or Tempo
// TraceByIDResponse message (see the comment at the top of the file).
func isTracesProto(head []byte) bool {
	for _, c := range head {
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			continue
		}
		if c == '{' || c == '[' {
			return false
		}
		break
	}
	if len(head) < 3 || head[0] != 0x0a {
		return false
	}
	n, k := binary.Uvarint(head[1:])
	if k <= 0 || n < 2 || n > maxTracesProto {
		return false
	}
	rest := head[1+k:]
	if len(rest) == 0 {
		return false
	}
	tag := 1
	switch {
	case rest[0] == 0x0a || rest[0] == 0x12 || rest[0] == 0x1a:
	case len(rest) >= 2 && rest[0] == 0xc2 && rest[1] == 0x3e:
		tag = 2
	default:
		return false
	}
	if len(rest) <= tag {
		return false
	}
	m, j := binary.Uvarint(rest[tag:])
	return j > 0 && m+uint64(tag+j) <= n
}

// produceTracesProto reads a whole protobuf document from br and sends it
// to be decoded as a Tempo or OTLP protobuf answer.
//
// load.go's produce calls it, after undoing compression and before looking
// for JSON, when isTracesProto says so.
func produceTracesProto(in *input, br *bufio.Reader, send func(job) bool, sizeHint int64) error {
	buf := make([]byte, 0, max(min(sizeHint, maxTracesProto)+1, 4096))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxTracesProto {
			return fmt.Errorf("%s: the protobuf document is over %s", in.name, formatSize(maxTracesProto))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", in.name, err)
		}
	}
	in.format = "tempo-proto" // before the send: workers only read it after
	send(job{in: in, emit: func(sk *sink) error { return decodeTempoProto(sk, buf) }})
	return nil
}

func formatSize(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d bytes", n)
}

// tempoV2 is what a TraceByIDResponse says besides its trace.
type tempoV2 struct {
	trace   []byte // field 1: the Trace message
	partial bool   // field 3 = PARTIAL
	message string // field 4
}

// parseTempoV2 reads buf as a TraceByIDResponse. It reports false when buf
// has a field a TraceByIDResponse cannot have, or a second trace.
func parseTempoV2(buf []byte) (tempoV2, bool) {
	var v tempoV2
	traces := 0
	for len(buf) > 0 {
		key, k := binary.Uvarint(buf)
		if k <= 0 {
			return v, false
		}
		buf = buf[k:]
		field, wire := key>>3, key&7
		switch {
		case wire == 2 && (field == 1 || field == 2 || field == 4):
			n, k := binary.Uvarint(buf)
			if k <= 0 || n > uint64(len(buf)-k) {
				return v, false
			}
			body := buf[k : k+int(n)]
			buf = buf[k+int(n):]
			switch field {
			case 1:
				v.trace = body
				traces++
			case 4:
				v.message = string(body)
			}
		case wire == 0 && field == 3:
			x, k := binary.Uvarint(buf)
			if k <= 0 {
				return v, false
			}
			buf = buf[k:]
			v.partial = x == 1
		default:
			return v, false
		}
	}
	return v, traces <= 1
}

// decodeTempoProto reads a protobuf Tempo answer: a TraceByIDResponse when
// it has the fields only that message has (metrics, status, message) or
// when, holding one field 1 only, it reads as nothing else; otherwise a
// tempopb.Trace / OTLP TracesData.
func decodeTempoProto(sk *sink, buf []byte) error {
	td, partial, msg, err := UnmarshalTempoProto(buf)
	if err != nil {
		return fmt.Errorf("%s: %w: it looks like protobuf but is not an OTLP or Tempo trace message: %v", sk.file, errNotTrace, err)
	}
	if partial {
		sk.partial++
		if msg == "" {
			msg = "some of its spans may be missing"
		}
		sk.warnf(model.WarnPartialTrace, 0, "the server marked this trace PARTIAL: %s", clip([]byte(msg)))
	}
	emitTraces(sk, td)
	return nil
}

// UnmarshalTempoProto reads a protobuf answer of Tempo's trace-by-ID API:
// a TraceByIDResponse (v2, with its partial flag and message) or a bare
// TracesData (v1).
func UnmarshalTempoProto(buf []byte) (td ptrace.Traces, partial bool, msg string, err error) {
	var u ptrace.ProtoUnmarshaler
	v2, isV2 := parseTempoV2(buf)
	onlyTrace := isV2 && !v2.partial && v2.message == "" && len(v2.trace)+protoHeaderLen(len(v2.trace)) == len(buf)
	if isV2 && !onlyTrace {
		td, err = u.UnmarshalTraces(v2.trace)
		return td, v2.partial, v2.message, err
	}
	td, err = u.UnmarshalTraces(buf)
	if onlyTrace && (err != nil || td.SpanCount() == 0) {
		// One field 1 and nothing else: a TraceByIDResponse holding only its
		// trace reads as a TracesData with one odd ResourceSpans.
		if inner, ierr := u.UnmarshalTraces(v2.trace); ierr == nil && inner.SpanCount() > 0 {
			return inner, false, "", nil
		}
	}
	return td, false, "", err
}

// protoHeaderLen is the size of the tag and length of a field 1 of n bytes.
func protoHeaderLen(n int) int {
	return 1 + len(binary.AppendUvarint(nil, uint64(n)))
}
