package live

// This file pulls traces from Jaeger's api_v2 QueryService over gRPC (port
// 16685). The generated types are gogo-protobuf: grpc-go's default codec
// cannot marshal their custom ID types (GetTrace panics), so every call is
// forced onto a codec that uses gogo's marshaller.
//
// Spans arrive in chunks; they are grouped by trace, converted to OTLP and
// handed to the decoders as OTLP/JSON, which is also what --save writes, so
// a saved gRPC pull reads back to the same dataset. The conversion follows
// Jaeger's own: span.kind and error tags become the span kind and status,
// the process becomes the resource, the parent is the first CHILD_OF (else
// FOLLOWS_FROM) reference in the trace and the other references are links
// carrying opentracing.ref_type.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
	"github.com/trace-forensics/trace-forensics/sources"

	gogoproto "github.com/gogo/protobuf/proto"
	jmodel "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gogoCodec marshals gogo-protobuf messages. It is named "proto" so the
// server sees the ordinary content type.
type gogoCodec struct{}

func (gogoCodec) Name() string { return "proto" }

func (gogoCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(gogoproto.Message)
	if !ok {
		return nil, fmt.Errorf("gogo codec: %T is not a gogo-protobuf message", v)
	}
	return gogoproto.Marshal(m)
}

func (gogoCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(gogoproto.Message)
	if !ok {
		return fmt.Errorf("gogo codec: %T is not a gogo-protobuf message", v)
	}
	return gogoproto.Unmarshal(b, m)
}

// jaegerGRPC is a Jaeger query service reached over gRPC.
type jaegerGRPC struct {
	addr   string // host:port as given, for messages
	conn   *grpc.ClientConn
	client api_v2.QueryServiceClient
	po     PullOptions
	creds  credentials
}

// PullJaegerGRPC reads the traces q selects from the Jaeger query service's
// gRPC port (host:16685). The address may carry a grpc:// (plaintext) or
// grpcs:// (TLS) scheme; --ca-file and --insecure-skip-verify imply TLS.
func PullJaegerGRPC(ctx context.Context, addr string, q TraceQuery, po PullOptions, opt sources.Options) (*model.Dataset, error) {
	j, err := newJaegerGRPC(addr, po)
	if err != nil {
		return nil, err
	}
	defer j.conn.Close()
	return pull(ctx, j, q, po, opt)
}

// JaegerServicesGRPC lists services and operations over gRPC.
func JaegerServicesGRPC(ctx context.Context, addr string, only []string, po PullOptions) ([]ServiceOperations, error) {
	j, err := newJaegerGRPC(addr, po)
	if err != nil {
		return nil, err
	}
	defer j.conn.Close()
	services := only
	if len(services) == 0 {
		var resp *api_v2.GetServicesResponse
		err := j.retry(ctx, func() error {
			cctx, cancel := context.WithTimeout(j.withAuth(ctx), po.timeout())
			defer cancel()
			var err error
			resp, err = j.client.GetServices(cctx, &api_v2.GetServicesRequest{})
			return err
		})
		if err != nil {
			return nil, j.rpcError("GetServices", err)
		}
		services = resp.Services
	}
	return listOperations(ctx, services, po.concurrency(), func(ctx context.Context, s string) ([]Operation, error) {
		var resp *api_v2.GetOperationsResponse
		err := j.retry(ctx, func() error {
			cctx, cancel := context.WithTimeout(j.withAuth(ctx), po.timeout())
			defer cancel()
			var err error
			resp, err = j.client.GetOperations(cctx, &api_v2.GetOperationsRequest{Service: s})
			return err
		})
		if err != nil {
			return nil, j.rpcError("GetOperations", err)
		}
		var out []Operation
		for _, o := range resp.Operations {
			out = append(out, Operation{Name: o.Name, SpanKind: o.SpanKind})
		}
		if len(out) == 0 {
			for _, n := range resp.OperationNames {
				out = append(out, Operation{Name: n})
			}
		}
		return out, nil
	})
}

func newJaegerGRPC(addr string, po PullOptions) (*jaegerGRPC, error) {
	target, useTLS, err := parseGRPCAddr(addr)
	if err != nil {
		return nil, err
	}
	creds, err := credentialsFromEnv(po.Getenv, EnvJaegerPrefix)
	if err != nil {
		return nil, err
	}
	var tc grpccreds.TransportCredentials = insecure.NewCredentials()
	if useTLS || po.CAFile != "" || po.InsecureSkipVerify {
		cfg, err := tlsConfig(po)
		if err != nil {
			return nil, err
		}
		tc = grpccreds.NewTLS(cfg)
	}
	maxMsg := int(min(po.maxBytes(), math.MaxInt32))
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(tc),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(gogoCodec{}), grpc.MaxCallRecvMsgSize(maxMsg)),
		grpc.WithUserAgent("trace-forensics"),
	)
	if err != nil {
		return nil, fmt.Errorf("--jaeger-grpc %s: %w", target, err)
	}
	return &jaegerGRPC{addr: target, conn: conn, client: api_v2.NewQueryServiceClient(conn), po: po, creds: creds}, nil
}

// parseGRPCAddr accepts host:port, grpc://host:port and grpcs://host:port
// (or https://); it refuses credentials in the address.
func parseGRPCAddr(addr string) (target string, useTLS bool, err error) {
	a := strings.TrimSpace(addr)
	for _, p := range []struct {
		prefix string
		tls    bool
	}{{"grpc://", false}, {"http://", false}, {"grpcs://", true}, {"https://", true}} {
		if strings.HasPrefix(a, p.prefix) {
			a, useTLS = strings.TrimSuffix(strings.TrimPrefix(a, p.prefix), "/"), p.tls
			break
		}
	}
	if strings.Contains(a, "@") {
		return "", false, fmt.Errorf("--jaeger-grpc: %s: put credentials in environment variables, not in the address", RedactURL(addr))
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" {
		return "", false, fmt.Errorf("--jaeger-grpc: %q is not HOST:PORT (e.g. localhost:16685)", a)
	}
	return a, useTLS, nil
}

func (j *jaegerGRPC) name() string     { return "jaeger-grpc " + j.addr }
func (j *jaegerGRPC) saveName() string { return "jaeger-grpc" }

func (j *jaegerGRPC) withAuth(ctx context.Context) context.Context {
	h := map[string][]string{}
	j.creds.apply(h)
	if v := h["Authorization"]; len(v) > 0 {
		return metadata.AppendToOutgoingContext(ctx, "authorization", v[0])
	}
	return ctx
}

func (j *jaegerGRPC) search(ctx context.Context, q *TraceQuery, service string, w window, n int) (*page, error) {
	req := &api_v2.FindTracesRequest{Query: &api_v2.TraceQueryParameters{
		ServiceName:   service,
		OperationName: q.Operation,
		Tags:          q.Tags,
		StartTimeMin:  w.start,
		StartTimeMax:  w.end,
		DurationMin:   q.MinDuration,
		DurationMax:   q.MaxDuration,
		SearchDepth:   int32(n),
		RawTraces:     true,
	}}
	return j.stream("FindTraces", ctx, func(ctx context.Context) (chunkStream, error) {
		return j.client.FindTraces(ctx, req)
	}, true)
}

func (j *jaegerGRPC) fetch(ctx context.Context, id string) (*page, error) {
	tid, err := jmodel.TraceIDFromString(id)
	if err != nil {
		return nil, fmt.Errorf("trace ID %s: %w", id, err)
	}
	pg, err := j.stream("GetTrace", ctx, func(ctx context.Context) (chunkStream, error) {
		return j.client.GetTrace(ctx, &api_v2.GetTraceRequest{TraceID: tid, RawTraces: true})
	}, false)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err == nil && len(pg.traces) == 0 {
		return nil, nil
	}
	return pg, err
}

type chunkStream interface {
	Recv() (*api_v2.SpansResponseChunk, error)
}

// stream reads a span stream to the end, grouping spans by trace. The
// timeout bounds each wait for the next chunk; the size cap bounds the sum.
func (j *jaegerGRPC) stream(method string, ctx context.Context, open func(context.Context) (chunkStream, error), search bool) (*page, error) {
	var pg *page
	err := j.retry(ctx, func() error {
		var err error
		pg, err = j.streamOnce(method, ctx, open, search)
		return err
	})
	return pg, err
}

// transient reports whether a gRPC failure is worth another try: the
// server is reachable but overloaded or briefly unavailable. Failures to
// connect at all are reported at once, as over HTTP.
func transient(err error) bool {
	var pe *PullError
	if errors.As(err, &pe) && pe.Err != nil {
		err = pe.Err
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	low := strings.ToLower(st.Message())
	switch st.Code() {
	case codes.ResourceExhausted:
		return !strings.Contains(low, "larger than max")
	case codes.Unavailable:
		for _, s := range []string{"connection refused", "no such host", "produced zero addresses", "name resolver",
			"tls", "certificate", "x509", "handshake", "http2", "preface", "malformed header"} {
			if strings.Contains(low, s) {
				return false
			}
		}
		return true
	}
	return false
}

// retry calls call again after a transient failure, with doubling waits:
// the gRPC side of retrying HTTP 429 and 5xx.
func (j *jaegerGRPC) retry(ctx context.Context, call func() error) error {
	wait := j.po.backoff()
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || attempt >= j.po.retries() || !transient(err) {
			return err
		}
		t := time.NewTimer(wait + time.Duration(rand.Int64N(int64(wait)/4+1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

func (j *jaegerGRPC) streamOnce(method string, ctx context.Context, open func(context.Context) (chunkStream, error), search bool) (*page, error) {
	ctx, cancel := context.WithCancelCause(j.withAuth(ctx))
	defer cancel(nil)
	idle := time.AfterFunc(j.po.timeout(), func() { cancel(context.DeadlineExceeded) })
	defer idle.Stop()
	st, err := open(ctx)
	if err != nil {
		return nil, j.rpcError(method, err)
	}
	g := &traceGroups{index: map[jmodel.TraceID]int{}}
	var size int64
	for {
		chunk, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			if context.Cause(ctx) == context.DeadlineExceeded {
				return nil, &PullError{URL: j.name() + " " + method, Msg: fmt.Sprintf("no answer within %s (--timeout)", j.po.timeout()), Err: err}
			}
			if !search && status.Code(err) == codes.NotFound {
				return nil, err // the caller reports a missing trace
			}
			return nil, j.rpcError(method, err)
		}
		idle.Reset(j.po.timeout())
		size += int64(chunk.Size())
		if size > j.po.maxBytes() {
			return nil, &PullError{URL: j.name() + " " + method, Err: errTooLarge,
				Msg: fmt.Sprintf("the answer is larger than --max-response-bytes (%s): raise it or narrow the query", formatBytes(j.po.maxBytes()))}
		}
		for i := range chunk.Spans {
			g.add(&chunk.Spans[i])
		}
	}
	pg := &page{size: size}
	for _, t := range g.traces {
		pg.traces = append(pg.traces, pageTrace{id: traceKey(t.id.String()), start: t.start})
	}
	pg.encode = func(keep map[string]bool) ([]byte, error) {
		td := ptrace.NewTraces()
		for _, t := range g.traces {
			if keep == nil || keep[traceKey(t.id.String())] {
				appendJaegerTrace(td, t.spans)
			}
		}
		var m ptrace.JSONMarshaler
		return m.MarshalTraces(td)
	}
	return pg, nil
}

// traceGroups collects streamed spans by trace, in order of arrival.
type traceGroups struct {
	index  map[jmodel.TraceID]int
	traces []*spanGroup
}

type spanGroup struct {
	id    jmodel.TraceID
	start int64
	spans []*jmodel.Span
}

func (g *traceGroups) add(sp *jmodel.Span) {
	i, ok := g.index[sp.TraceID]
	if !ok {
		i = len(g.traces)
		g.index[sp.TraceID] = i
		g.traces = append(g.traces, &spanGroup{id: sp.TraceID, start: sp.StartTime.UnixNano()})
	}
	t := g.traces[i]
	t.spans = append(t.spans, sp)
	t.start = min(t.start, sp.StartTime.UnixNano())
}

// rpcError turns a gRPC failure into a one-line message.
func (j *jaegerGRPC) rpcError(method string, err error) error {
	where := j.name() + " " + method
	st, _ := status.FromError(err)
	msg := st.Message()
	low := strings.ToLower(msg)
	switch {
	case st.Code() == codes.DeadlineExceeded:
		msg = fmt.Sprintf("no answer within %s (--timeout)", j.po.timeout())
	case strings.Contains(low, "connection refused"):
		msg = "connection refused (is Jaeger running there? its query gRPC port is usually 16685)"
	case strings.Contains(low, "no such host") || strings.Contains(low, "produced zero addresses") || strings.Contains(low, "name resolver"):
		host, _, _ := net.SplitHostPort(j.addr)
		msg = fmt.Sprintf("cannot resolve host %q: no such host", host)
	case strings.Contains(low, "certificate") || strings.Contains(low, "x509") || strings.Contains(low, "tls:") || strings.Contains(low, "authentication handshake failed"):
		if strings.Contains(low, "unknown authority") {
			msg = "TLS: the server's certificate is signed by an unknown authority (pass the CA with --ca-file)"
		} else if strings.Contains(low, "first record does not look like a tls handshake") {
			msg = "TLS handshake failed: the server does not speak TLS (drop grpcs://, --ca-file and --insecure-skip-verify)"
		} else {
			msg = "TLS handshake failed: " + oneLine(msg, 200)
		}
	case st.Code() == codes.Unauthenticated:
		msg = "unauthenticated: " + j.creds.hint(401)
	case st.Code() == codes.PermissionDenied:
		msg = "permission denied: " + j.creds.hint(403)
	case st.Code() == codes.Unimplemented:
		msg = "the server does not implement jaeger.api_v2.QueryService (is this Jaeger's query gRPC port, usually 16685?)"
	case st.Code() == codes.ResourceExhausted && strings.Contains(low, "larger than max"):
		return &PullError{URL: where, Err: errTooLarge,
			Msg: fmt.Sprintf("the answer is larger than --max-response-bytes (%s): raise it or narrow the query", formatBytes(j.po.maxBytes()))}
	case strings.Contains(low, "search depth"):
		return &PullError{URL: where, Msg: oneLine(msg, 200), Err: errSearchDepth}
	case st.Code() == codes.Unavailable && (strings.Contains(low, "http2") || strings.Contains(low, "preface") || strings.Contains(low, "malformed header")):
		msg = "the server does not speak gRPC (is this Jaeger's query gRPC port, usually 16685, rather than HTTP 16686?)"
	default:
		msg = st.Code().String() + ": " + oneLine(msg, 200)
	}
	return &PullError{URL: where, Msg: msg, Err: err}
}

// appendJaegerTrace converts the spans of one trace to OTLP, one resource
// per distinct process.
func appendJaegerTrace(td ptrace.Traces, spans []*jmodel.Span) {
	type scopeKey struct{ process, name, version string }
	resources := map[string]ptrace.ResourceSpans{}
	scopes := map[scopeKey]ptrace.SpanSlice{}
	for _, sp := range spans {
		pk := processKey(sp.Process)
		rs, ok := resources[pk]
		if !ok {
			rs = td.ResourceSpans().AppendEmpty()
			attrs := rs.Resource().Attributes()
			if sp.Process != nil {
				attrs.PutStr("service.name", sp.Process.ServiceName)
				for i := range sp.Process.Tags {
					putKeyValue(attrs, &sp.Process.Tags[i])
				}
			}
			resources[pk] = rs
		}
		var scopeName, scopeVersion string
		for i := range sp.Tags {
			switch sp.Tags[i].Key {
			case "otel.scope.name", "otel.library.name":
				scopeName = sp.Tags[i].AsString()
			case "otel.scope.version", "otel.library.version":
				scopeVersion = sp.Tags[i].AsString()
			}
		}
		sk := scopeKey{pk, scopeName, scopeVersion}
		ss, ok := scopes[sk]
		if !ok {
			s := rs.ScopeSpans().AppendEmpty()
			s.Scope().SetName(scopeName)
			s.Scope().SetVersion(scopeVersion)
			ss = s.Spans()
			scopes[sk] = ss
		}
		convertJaegerSpan(sp, ss.AppendEmpty())
	}
}

func processKey(p *jmodel.Process) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(p.ServiceName)
	for i := range p.Tags {
		b.WriteByte(0)
		b.WriteString(p.Tags[i].Key)
		b.WriteByte(1)
		b.WriteString(p.Tags[i].AsString())
	}
	return b.String()
}

func convertJaegerSpan(sp *jmodel.Span, out ptrace.Span) {
	out.SetTraceID(otlpTraceID(sp.TraceID))
	out.SetSpanID(otlpSpanID(sp.SpanID))
	out.SetName(sp.OperationName)
	start := sp.StartTime
	out.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	out.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(sp.Duration)))
	parent := sp.ParentSpanID()
	if parent != 0 {
		out.SetParentSpanID(otlpSpanID(parent))
	}
	parentUsed := false
	for i := range sp.References {
		ref := &sp.References[i]
		if !parentUsed && parent != 0 && ref.TraceID == sp.TraceID && ref.SpanID == parent {
			parentUsed = true
			continue
		}
		l := out.Links().AppendEmpty()
		l.SetTraceID(otlpTraceID(ref.TraceID))
		l.SetSpanID(otlpSpanID(ref.SpanID))
		l.Attributes().PutStr("opentracing.ref_type", strings.ToLower(ref.RefType.String()))
	}
	var isError bool
	var statusMsg string
	attrs := out.Attributes()
	for i := range sp.Tags {
		kv := &sp.Tags[i]
		switch kv.Key {
		case "span.kind":
			out.SetKind(otlpKind(kv.AsString()))
			continue
		case "otel.scope.name", "otel.scope.version", "otel.library.name", "otel.library.version":
			continue
		case "error":
			if kv.VType == jmodel.ValueType_BOOL && kv.Bool() || kv.AsString() == "true" {
				isError = true
				continue
			}
		case "otel.status_code":
			switch kv.AsString() {
			case "ERROR":
				isError = true
				continue
			case "OK":
				out.Status().SetCode(ptrace.StatusCodeOk)
				continue
			}
		case "otel.status_description":
			statusMsg = kv.AsString()
			continue
		}
		putKeyValue(attrs, kv)
	}
	if isError {
		out.Status().SetCode(ptrace.StatusCodeError)
		out.Status().SetMessage(statusMsg)
	}
}

func otlpKind(s string) ptrace.SpanKind {
	switch strings.ToLower(s) {
	case "server":
		return ptrace.SpanKindServer
	case "client":
		return ptrace.SpanKindClient
	case "producer":
		return ptrace.SpanKindProducer
	case "consumer":
		return ptrace.SpanKindConsumer
	case "internal":
		return ptrace.SpanKindInternal
	}
	return ptrace.SpanKindUnspecified
}

func putKeyValue(m pcommon.Map, kv *jmodel.KeyValue) {
	switch kv.VType {
	case jmodel.ValueType_BOOL:
		m.PutBool(kv.Key, kv.Bool())
	case jmodel.ValueType_INT64:
		m.PutInt(kv.Key, kv.Int64())
	case jmodel.ValueType_FLOAT64:
		m.PutDouble(kv.Key, kv.Float64())
	case jmodel.ValueType_BINARY:
		m.PutEmptyBytes(kv.Key).FromRaw(kv.Binary())
	default:
		m.PutStr(kv.Key, kv.VStr)
	}
}

func otlpTraceID(t jmodel.TraceID) pcommon.TraceID {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(t.High >> (56 - 8*i))
		b[8+i] = byte(t.Low >> (56 - 8*i))
	}
	return pcommon.TraceID(b)
}

func otlpSpanID(s jmodel.SpanID) pcommon.SpanID {
	var b [8]byte
	for i := range 8 {
		b[i] = byte(uint64(s) >> (56 - 8*i))
	}
	return pcommon.SpanID(b)
}

// CheckJaegerGRPCAddr reports whether addr is usable as --jaeger-grpc.
func CheckJaegerGRPCAddr(addr string) error {
	_, _, err := parseGRPCAddr(addr)
	return err
}
