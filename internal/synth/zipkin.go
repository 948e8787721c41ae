package synth

import (
	"io"
	"strconv"
)

// zipkinKinds are Zipkin's kind names by OTLP kind enum; INTERNAL and
// unspecified spans have none.
var zipkinKinds = [...]string{"", "", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"}

// WriteZipkin writes cfg.Requests traces as Zipkin v2 JSON, an array of
// traces that are arrays of spans (the /api/v2/traces shape): times in µs,
// the service in localEndpoint, attributes and the resource's as string tags
// (as the OpenTelemetry Zipkin exporter writes them), INTERNAL spans with a
// span.kind tag, errors as an error tag. The traces are the ones WriteJSONL
// writes for the same cfg.
//
// With shared, every SERVER span whose parent is a CLIENT span reuses the
// client's ID and says shared:true, and its children name that ID as their
// parent: B3's single-ID RPC model, which Zipkin's own instrumentation
// (Brave) reports. It returns the number of spans written.
func WriteZipkin(w io.Writer, cfg Config, shared bool) (int, error) {
	return writeTraces(w, cfg, "[\n", "\n]\n", func(b []byte, spans []Span) []byte {
		return AppendZipkinTrace(b, spans, shared)
	})
}

// AppendZipkinTrace appends one trace as a Zipkin v2 array of spans.
func AppendZipkinTrace(b []byte, spans []Span, shared bool) []byte {
	// With shared IDs, a server span takes its client parent's ID; its
	// children follow it.
	idOf := map[[8]byte][8]byte{}
	isShared := map[[8]byte]bool{}
	if shared {
		kind := map[[8]byte]int{}
		for _, s := range spans {
			kind[s.SpanID] = s.Kind
		}
		for _, s := range spans {
			if s.Kind == 2 && s.Parent != [8]byte{} && kind[s.Parent] == 3 {
				idOf[s.SpanID] = s.Parent
				isShared[s.SpanID] = true
			}
		}
	}
	wireID := func(id [8]byte) [8]byte {
		if v, ok := idOf[id]; ok {
			return v
		}
		return id
	}
	b = append(b, '[')
	for i, s := range spans {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"traceId":"`...)
		b = appendHex(b, s.TraceID[:])
		b = append(b, '"')
		if s.Parent != [8]byte{} {
			parent := wireID(s.Parent)
			if isShared[s.SpanID] {
				parent = s.Parent // B3: the server half's parent is the client's parent...
				for _, p := range spans {
					if p.SpanID == s.Parent {
						parent = wireID(p.Parent) // ...the client's own parent
					}
				}
			}
			if parent != [8]byte{} {
				b = append(b, `,"parentId":"`...)
				b = appendHex(b, parent[:])
				b = append(b, '"')
			}
		}
		id := wireID(s.SpanID)
		b = append(b, `,"id":"`...)
		b = appendHex(b, id[:])
		b = append(b, '"')
		if s.Kind > 0 && s.Kind < len(zipkinKinds) && zipkinKinds[s.Kind] != "" {
			b = append(b, `,"kind":"`...)
			b = append(b, zipkinKinds[s.Kind]...)
			b = append(b, '"')
		}
		b = append(b, `,"name":`...)
		b = strconv.AppendQuote(b, s.Name)
		startUs, endUs := s.Start/1000, s.End/1000
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, startUs, 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, max(1, endUs-startUs), 10)
		b = append(b, `,"localEndpoint":{"serviceName":`...)
		b = strconv.AppendQuote(b, s.Service)
		b = append(b, `,"ipv4":"10.0.0.7"}`...)
		b = append(b, `,"tags":{`...)
		n := 0
		tag := func(k, v string) {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			b = strconv.AppendQuote(b, v)
		}
		for _, kv := range s.Attrs {
			tag(kv.Key, zipkinValue(kv.Value))
		}
		tag("service.version", serviceVersion[s.Service])
		tag("deployment.environment.name", "prod")
		if s.Kind == 1 {
			tag("span.kind", "internal")
		}
		if s.Error {
			tag("otel.status_code", "ERROR")
			tag("error", "upstream model call failed")
		}
		b = append(b, '}')
		if isShared[s.SpanID] {
			b = append(b, `,"shared":true`...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func zipkinValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return ""
}
