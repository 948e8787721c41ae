package synth

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"io"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TempoFormat is one of the shapes Grafana Tempo answers a trace lookup in.
type TempoFormat int

const (
	// TempoV1 is /api/traces/{id} JSON of Tempo 2.x: {"batches":[…]} with
	// scopeSpans, IDs in base64, kinds and status codes as enum names.
	TempoV1 TempoFormat = iota
	// TempoV1Legacy is the same from Tempo ≤ 1.5: instrumentationLibrarySpans.
	TempoV1Legacy
	// TempoV2 is /api/v2/traces/{id} JSON: {"trace":{"resourceSpans":[…]}}.
	TempoV2
	// TempoV2Partial is TempoV2 with "status":"PARTIAL" and a message.
	TempoV2Partial
)

// WriteTempo writes cfg.Requests traces as one Tempo JSON answer of format
// f, the traces' resource spans in one list. The traces are the ones
// WriteJSONL writes for the same cfg. It returns the number of spans written.
func WriteTempo(w io.Writer, cfg Config, f TempoFormat) (int, error) {
	g := New(cfg)
	bw := bufio.NewWriterSize(w, 1<<20)
	total := 0
	var b []byte
	b = tempoOpen(b, f)
	for i := range cfg.Requests {
		spans := g.Next()
		total += len(spans)
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = appendTempoBatches(b, spans, f)
		if _, err := bw.Write(b); err != nil {
			return total, err
		}
		b = b[:0]
	}
	b = tempoClose(b, f)
	if _, err := bw.Write(b); err != nil {
		return total, err
	}
	return total, bw.Flush()
}

// AppendTempoTrace appends one trace as the answer Tempo gives for it.
func AppendTempoTrace(b []byte, spans []Span, f TempoFormat) []byte {
	b = tempoOpen(b, f)
	b = appendTempoBatches(b, spans, f)
	return tempoClose(b, f)
}

func tempoOpen(b []byte, f TempoFormat) []byte {
	if f == TempoV2 || f == TempoV2Partial {
		return append(b, `{"trace":{"resourceSpans":[`...)
	}
	return append(b, `{"batches":[`...)
}

func tempoClose(b []byte, f TempoFormat) []byte {
	switch f {
	case TempoV2:
		return append(b, `]},"metrics":{"inspectedBytes":"1024"}}`...)
	case TempoV2Partial:
		return append(b, `]},"metrics":{"inspectedBytes":"1024"},"status":"PARTIAL","message":"Trace exceeds maximum size of 50000000 bytes, a partial trace is returned"}`...)
	}
	return append(b, "]}"...)
}

// byService groups the spans of a trace by service, in order of first
// appearance: one resource per service, as an SDK exports them.
func byService(spans []Span) [][]Span {
	var order []string
	m := map[string][]Span{}
	for _, s := range spans {
		if _, ok := m[s.Service]; !ok {
			order = append(order, s.Service)
		}
		m[s.Service] = append(m[s.Service], s)
	}
	out := make([][]Span, len(order))
	for i, svc := range order {
		out[i] = m[svc]
	}
	return out
}

var tempoKinds = [...]string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}

func appendB64(b []byte, id []byte) []byte {
	return base64.StdEncoding.AppendEncode(b, id)
}

func appendTempoBatches(b []byte, spans []Span, f TempoFormat) []byte {
	scope := `"scopeSpans":[{"scope":`
	if f == TempoV1Legacy {
		scope = `"instrumentationLibrarySpans":[{"instrumentationLibrary":`
	}
	for i, group := range byService(spans) {
		if i > 0 {
			b = append(b, ',')
		}
		svc := group[0].Service
		b = append(b, `{"resource":{"attributes":[`...)
		b = appendKV(b, KV{"service.name", svc})
		b = append(b, ',')
		b = appendKV(b, KV{"service.version", serviceVersion[svc]})
		b = append(b, ',')
		b = appendKV(b, KV{"deployment.environment.name", "prod"})
		b = append(b, `]},`...)
		b = append(b, scope...)
		b = append(b, `{"name":"chat-instrumentation","version":"0.3.1"},"spans":[`...)
		for j, s := range group {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"traceId":"`...)
			b = appendB64(b, s.TraceID[:])
			b = append(b, `","spanId":"`...)
			b = appendB64(b, s.SpanID[:])
			b = append(b, '"')
			if s.Parent != [8]byte{} {
				b = append(b, `,"parentSpanId":"`...)
				b = appendB64(b, s.Parent[:])
				b = append(b, '"')
			}
			b = append(b, `,"name":`...)
			b = strconv.AppendQuote(b, s.Name)
			b = append(b, `,"kind":"`...)
			b = append(b, tempoKinds[s.Kind]...)
			b = append(b, `","startTimeUnixNano":"`...)
			b = strconv.AppendInt(b, s.Start, 10)
			b = append(b, `","endTimeUnixNano":"`...)
			b = strconv.AppendInt(b, s.End, 10)
			b = append(b, `","attributes":[`...)
			for k, kv := range s.Attrs {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendKV(b, kv)
			}
			b = append(b, `],"status":{`...)
			if s.Error {
				b = append(b, `"message":"upstream model call failed","code":"STATUS_CODE_ERROR"`...)
			}
			b = append(b, "}}"...)
		}
		b = append(b, "]}]}"...)
	}
	return b
}

// TempoTraces returns the spans as pdata traces, one resource per service.
func TempoTraces(spans []Span) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, group := range byService(spans) {
		rs := td.ResourceSpans().AppendEmpty()
		svc := group[0].Service
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", svc)
		attrs.PutStr("service.version", serviceVersion[svc])
		attrs.PutStr("deployment.environment.name", "prod")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("chat-instrumentation")
		ss.Scope().SetVersion("0.3.1")
		for _, s := range group {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID(s.TraceID))
			sp.SetSpanID(pcommon.SpanID(s.SpanID))
			sp.SetParentSpanID(pcommon.SpanID(s.Parent))
			sp.SetName(s.Name)
			sp.SetKind(ptrace.SpanKind(s.Kind))
			sp.SetStartTimestamp(pcommon.Timestamp(s.Start))
			sp.SetEndTimestamp(pcommon.Timestamp(s.End))
			for _, kv := range s.Attrs {
				switch v := kv.Value.(type) {
				case string:
					sp.Attributes().PutStr(kv.Key, v)
				case int64:
					sp.Attributes().PutInt(kv.Key, v)
				case bool:
					sp.Attributes().PutBool(kv.Key, v)
				case float64:
					sp.Attributes().PutDouble(kv.Key, v)
				}
			}
			if s.Error {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("upstream model call failed")
			}
		}
	}
	return td
}

// TempoTraceProto returns one trace as Tempo's protobuf answer to
// /api/traces/{id} with Accept: application/protobuf: a tempopb.Trace, whose
// wire layout is OTLP TracesData's.
func TempoTraceProto(spans []Span) ([]byte, error) {
	var m ptrace.ProtoMarshaler
	return m.MarshalTraces(TempoTraces(spans))
}

// TempoTraceByIDProto returns one trace as Tempo's protobuf answer to
// /api/v2/traces/{id}: a TraceByIDResponse {trace = 1; metrics = 2;
// status = 3; message = 4}, PARTIAL (1) when partial.
func TempoTraceByIDProto(spans []Span, partial bool) ([]byte, error) {
	inner, err := TempoTraceProto(spans)
	if err != nil {
		return nil, err
	}
	b := []byte{0x0a}
	b = binary.AppendUvarint(b, uint64(len(inner)))
	b = append(b, inner...)
	b = append(b, 0x12, 0x03, 0x08, 0xe8, 0x07) // metrics {inspectedBytes: 1000}
	if partial {
		msg := "Trace exceeds maximum size of 50000000 bytes, a partial trace is returned"
		b = append(b, 0x18, 0x01, 0x22)
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
	}
	return b, nil
}
