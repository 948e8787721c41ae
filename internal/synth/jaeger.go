package synth

import (
	"bufio"
	"io"
	"strconv"
)

// jaegerKinds are the span.kind tag values by OTLP kind enum; unspecified
// spans get no tag.
var jaegerKinds = [...]string{"", "internal", "server", "client", "producer", "consumer"}

// WriteJaeger writes cfg.Requests traces as one Jaeger query-API document,
// {"data":[trace…]}, the shape the Jaeger UI downloads: times in µs, the kind
// and errors as tags, one process per service. The traces are the ones
// WriteJSONL writes for the same cfg. It returns the number of spans written.
func WriteJaeger(w io.Writer, cfg Config) (int, error) {
	return writeTraces(w, cfg, "{\"data\":[\n", "\n],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n", appendJaegerTrace)
}

// writeTraces writes cfg.Requests traces as a JSON array between open and
// close, one trace a line, and returns the number of spans written.
func writeTraces(w io.Writer, cfg Config, open, close string, appendTrace func([]byte, []Span) []byte) (int, error) {
	g := New(cfg)
	bw := bufio.NewWriterSize(w, 1<<20)
	total := 0
	var b []byte
	if _, err := bw.WriteString(open); err != nil {
		return 0, err
	}
	for i := range cfg.Requests {
		spans := g.Next()
		total += len(spans)
		b = b[:0]
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = appendTrace(b, spans)
		if _, err := bw.Write(b); err != nil {
			return total, err
		}
	}
	if _, err := bw.WriteString(close); err != nil {
		return total, err
	}
	return total, bw.Flush()
}

// appendJaegerTrace writes one trace object. As Jaeger's query service does,
// processes follow the spans.
func appendJaegerTrace(b []byte, spans []Span) []byte {
	var services []string
	pid := map[string]int{}
	for _, s := range spans {
		if _, ok := pid[s.Service]; !ok {
			services = append(services, s.Service)
			pid[s.Service] = len(services)
		}
	}
	b = append(b, `{"traceID":"`...)
	if len(spans) > 0 {
		b = appendHex(b, spans[0].TraceID[:])
	}
	b = append(b, `","spans":[`...)
	for i, s := range spans {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"traceID":"`...)
		b = appendHex(b, s.TraceID[:])
		b = append(b, `","spanID":"`...)
		b = appendHex(b, s.SpanID[:])
		b = append(b, `","flags":1,"operationName":`...)
		b = strconv.AppendQuote(b, s.Name)
		b = append(b, `,"references":[`...)
		if s.Parent != [8]byte{} {
			b = append(b, `{"refType":"CHILD_OF","traceID":"`...)
			b = appendHex(b, s.TraceID[:])
			b = append(b, `","spanID":"`...)
			b = appendHex(b, s.Parent[:])
			b = append(b, `"}`...)
		}
		startUs, endUs := s.Start/1000, s.End/1000
		b = append(b, `],"startTime":`...)
		b = strconv.AppendInt(b, startUs, 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, endUs-startUs, 10)
		b = append(b, `,"tags":[`...)
		n := 0
		tag := func(kv KV) {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendJaegerTag(b, kv)
		}
		for _, kv := range s.Attrs {
			tag(kv)
		}
		if s.Kind > 0 && s.Kind < len(jaegerKinds) {
			tag(KV{"span.kind", jaegerKinds[s.Kind]})
		}
		if s.Error {
			tag(KV{"otel.status_code", "ERROR"})
			tag(KV{"error", true})
		}
		b = append(b, `],"logs":[],"processID":"p`...)
		b = strconv.AppendInt(b, int64(pid[s.Service]), 10)
		b = append(b, `","warnings":null}`...)
	}
	b = append(b, `],"processes":{`...)
	for i, svc := range services {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"p`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `":{"serviceName":`...)
		b = strconv.AppendQuote(b, svc)
		b = append(b, `,"tags":[`...)
		b = appendJaegerTag(b, KV{"service.version", serviceVersion[svc]})
		b = append(b, ',')
		b = appendJaegerTag(b, KV{"deployment.environment.name", "prod"})
		b = append(b, "]}"...)
	}
	return append(b, `},"warnings":null}`...)
}

// appendJaegerTag writes one {key,type,value} tag.
func appendJaegerTag(b []byte, kv KV) []byte {
	b = append(b, `{"key":`...)
	b = strconv.AppendQuote(b, kv.Key)
	switch v := kv.Value.(type) {
	case string:
		b = append(b, `,"type":"string","value":`...)
		b = strconv.AppendQuote(b, v)
	case int64:
		b = append(b, `,"type":"int64","value":`...)
		b = strconv.AppendInt(b, v, 10)
	case bool:
		b = append(b, `,"type":"bool","value":`...)
		b = strconv.AppendBool(b, v)
	case float64:
		b = append(b, `,"type":"float64","value":`...)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, '}')
}
