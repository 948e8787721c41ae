package sources

import (
	"fmt"

	"github.com/trace-forensics/trace-forensics/model"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// decodeProto reads one OTLP protobuf TracesData message (the Collector's
// proto file records, Tempo's protobuf answers) with the Collector's own
// decoder: protobuf is not the hot path, and pdata is the reference.
func decodeProto(sk *sink, buf []byte) error {
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(buf)
	if err != nil {
		return fmt.Errorf("%s: not an OTLP protobuf message: %w", sk.file, err)
	}
	emitTraces(sk, td)
	return nil
}

// emitTraces hands every span of td to the sink.
func emitTraces(sk *sink, td ptrace.Traces) {
	var rec spanRec
	var resource []keptValue
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		resource = resource[:0]
		var service []byte
		rs.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			if k == "service.name" {
				service = []byte(v.AsString())
			}
			if idx := sk.keepIndex([]byte(k)); idx >= 0 {
				resource = append(resource, keptValue{key: idx, val: []byte(v.AsString())})
			}
			return true
		})
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				rec.reset()
				rec.trace = model.TraceID(sp.TraceID())
				rec.id = spanIDFromBytes(sp.SpanID())
				rec.parent = spanIDFromBytes(sp.ParentSpanID())
				rec.start, rec.hasStart = int64(sp.StartTimestamp()), true
				rec.end, rec.hasEnd = int64(sp.EndTimestamp()), true
				rec.name = []byte(sp.Name())
				rec.kind = model.Kind(sp.Kind())
				if rec.kind > model.KindConsumer {
					rec.kind = model.KindUnspecified
				}
				if sp.Status().Code() == ptrace.StatusCodeError {
					rec.flags |= model.FlagError
				}
				sp.Attributes().Range(func(k string, v pcommon.Value) bool {
					switch k {
					case "error":
						if v.AsString() == "true" {
							rec.flags |= model.FlagError
						}
					case "otel.status_code":
						if v.AsString() == "ERROR" {
							rec.flags |= model.FlagError
						}
					}
					if idx := sk.keepIndex([]byte(k)); idx >= 0 {
						rec.attrs = append(rec.attrs, keptValue{key: idx, val: []byte(v.AsString())})
					}
					return true
				})
				links := sp.Links()
				for l := 0; l < links.Len(); l++ {
					ln := links.At(l)
					rec.links = append(rec.links, model.Link{Trace: rec.trace, From: rec.id,
						ToTrace: model.TraceID(ln.TraceID()), To: spanIDFromBytes(ln.SpanID())})
				}
				sk.emit(&rec, service, resource)
			}
		}
	}
}

func spanIDFromBytes(b pcommon.SpanID) model.SpanID {
	return model.SpanID(uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]))
}
