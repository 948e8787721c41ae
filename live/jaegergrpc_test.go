package live

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/model"
	"github.com/trace-forensics/trace-forensics/sources"

	jmodel "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeQueryService is Jaeger's api_v2 QueryService over fixed traces. It
// streams spans in chunks of 3 with the spans of neighbouring traces
// interleaved, and returns at most SearchDepth traces in a scrambled order.
type fakeQueryService struct {
	api_v2.UnimplementedQueryServiceServer
	traces  [][]jmodel.Span
	stall   bool   // never answer FindTraces
	wantTok string // require this bearer token
	failing int    // answer this many GetServices calls with UNAVAILABLE

	mu       sync.Mutex
	searches int
}

var grpcBase = time.Date(2026, 6, 1, 8, 0, 0, 123456789, time.UTC)

func fakeGRPCTrace(i int) []jmodel.Span {
	tid := jmodel.NewTraceID(0, uint64(0x5000+i))
	start := grpcBase.Add(time.Duration(i) * time.Second)
	root := jmodel.SpanID(0x100 + i)
	proc := &jmodel.Process{ServiceName: "front", Tags: []jmodel.KeyValue{jmodel.String("host.name", "h1")}}
	worker := &jmodel.Process{ServiceName: "worker"}
	return []jmodel.Span{
		{TraceID: tid, SpanID: root, OperationName: "GET /api", StartTime: start, Duration: 200*time.Millisecond + 1234*time.Nanosecond,
			Tags: []jmodel.KeyValue{jmodel.String("span.kind", "server"), jmodel.Int64("http.status_code", 500), jmodel.Bool("error", true),
				jmodel.String("otel.scope.name", "lib"), jmodel.Float64("ratio", 0.5), jmodel.Binary("blob", []byte{1, 2})},
			Process: proc},
		{TraceID: tid, SpanID: root + 0x1000, OperationName: "query", StartTime: start.Add(time.Millisecond), Duration: 50 * time.Millisecond,
			References: []jmodel.SpanRef{jmodel.NewChildOfRef(tid, root)},
			Tags:       []jmodel.KeyValue{jmodel.String("span.kind", "client")}, Process: proc},
		// Only a FOLLOWS_FROM reference: Jaeger takes it as the parent.
		{TraceID: tid, SpanID: root + 0x2000, OperationName: "async job", StartTime: start.Add(300 * time.Millisecond), Duration: 10 * time.Millisecond,
			References: []jmodel.SpanRef{jmodel.NewFollowsFromRef(tid, root), jmodel.NewFollowsFromRef(jmodel.NewTraceID(0, 9), 9)},
			Tags:       []jmodel.KeyValue{jmodel.String("span.kind", "consumer"), jmodel.String("otel.status_code", "ERROR")}, Process: worker},
	}
}

func newFakeQueryService(t *testing.T, n int) (*fakeQueryService, string) {
	f := &fakeQueryService{}
	for i := range n {
		f.traces = append(f.traces, fakeGRPCTrace(i))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.ForceServerCodec(gogoCodec{}))
	api_v2.RegisterQueryServiceServer(s, f)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return f, l.Addr().String()
}

func (f *fakeQueryService) checkAuth(ctx context.Context) error {
	if f.wantTok == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) == 0 || v[0] != "Bearer "+f.wantTok {
		return status.Error(codes.Unauthenticated, "bad token")
	}
	return nil
}

// send streams the spans of some traces, interleaving neighbours, 3 per chunk.
func sendInterleaved(traces [][]jmodel.Span, send func(*api_v2.SpansResponseChunk) error) error {
	var all []jmodel.Span
	for i := 0; i < len(traces); i += 2 {
		a := traces[i]
		var b []jmodel.Span
		if i+1 < len(traces) {
			b = traces[i+1]
		}
		for k := 0; k < max(len(a), len(b)); k++ {
			if k < len(a) {
				all = append(all, a[k])
			}
			if k < len(b) {
				all = append(all, b[k])
			}
		}
	}
	for i := 0; i < len(all); i += 3 {
		if err := send(&api_v2.SpansResponseChunk{Spans: all[i:min(i+3, len(all))]}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeQueryService) FindTraces(req *api_v2.FindTracesRequest, srv api_v2.QueryService_FindTracesServer) error {
	if err := f.checkAuth(srv.Context()); err != nil {
		return err
	}
	if f.stall {
		<-srv.Context().Done()
		return srv.Context().Err()
	}
	f.mu.Lock()
	f.searches++
	f.mu.Unlock()
	q := req.Query
	if !q.RawTraces {
		return status.Error(codes.InvalidArgument, "test wants raw traces")
	}
	var found [][]jmodel.Span
	for _, tr := range f.traces {
		s := tr[0].StartTime
		if s.Before(q.StartTimeMin) || s.After(q.StartTimeMax) {
			continue
		}
		if q.ServiceName != "" && q.ServiceName != "front" && q.ServiceName != "worker" {
			continue
		}
		found = append(found, tr)
	}
	sort.Slice(found, func(i, j int) bool {
		return (found[i][0].StartTime.Unix()*7919)%97 < (found[j][0].StartTime.Unix()*7919)%97
	})
	if len(found) > int(q.SearchDepth) {
		found = found[:q.SearchDepth]
	}
	return sendInterleaved(found, srv.Send)
}

func (f *fakeQueryService) GetTrace(req *api_v2.GetTraceRequest, srv api_v2.QueryService_GetTraceServer) error {
	if err := f.checkAuth(srv.Context()); err != nil {
		return err
	}
	for _, tr := range f.traces {
		if tr[0].TraceID == req.TraceID {
			return sendInterleaved([][]jmodel.Span{tr}, srv.Send)
		}
	}
	return status.Errorf(codes.NotFound, "trace not found")
}

func (f *fakeQueryService) GetServices(ctx context.Context, _ *api_v2.GetServicesRequest) (*api_v2.GetServicesResponse, error) {
	if err := f.checkAuth(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing > 0 {
		f.failing--
		return nil, status.Error(codes.Unavailable, "overloaded")
	}
	return &api_v2.GetServicesResponse{Services: []string{"worker", "front"}}, nil
}

func (f *fakeQueryService) GetOperations(ctx context.Context, req *api_v2.GetOperationsRequest) (*api_v2.GetOperationsResponse, error) {
	if req.Service == "front" {
		return &api_v2.GetOperationsResponse{Operations: []*api_v2.Operation{{Name: "query", SpanKind: "client"}, {Name: "GET /api", SpanKind: "server"}}}, nil
	}
	return &api_v2.GetOperationsResponse{OperationNames: []string{"async job"}}, nil
}

func grpcWindow() (time.Time, time.Time) { return grpcBase.Add(-time.Minute), grpcBase.Add(time.Hour) }

func TestPullJaegerGRPCSearch(t *testing.T) {
	f, addr := newFakeQueryService(t, 45)
	lo, hi := grpcWindow()
	po := testPullOpts()
	po.PageSize = 8
	ds, err := PullJaegerGRPC(context.Background(), addr, TraceQuery{Services: []string{"front"}, Start: lo, End: hi}, po, sources.Options{Keep: []string{"host.name", "http.status_code"}})
	if err != nil {
		t.Fatal(err)
	}
	got := traceSet(ds)
	if len(got) != 45 || ds.Spans != 135 {
		t.Fatalf("%d traces, %d spans; want 45 and 135", len(got), ds.Spans)
	}
	if f.searches < 6 {
		t.Errorf("only %d searches with pages of 8", f.searches)
	}
	if ds.Inputs[0].Name != "jaeger-grpc "+addr || ds.Inputs[0].Format != "otlp-json" {
		t.Errorf("input %+v", ds.Inputs[0])
	}
	// The conversion: kinds, errors, parents, nanosecond times, kept values.
	ops := ds.Catalog.Ops()
	shapes := ds.Catalog.Shapes()
	byName := map[string]model.Span{}
	shapeOf := map[string]model.Shape{}
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, sp := range slab {
				if sp.Trace.String() != fmt.Sprintf("%032x", 0x5000) {
					continue
				}
				sh := shapes[sp.Shape]
				n := ops[sh.Op].Service + "/" + ops[sh.Op].Name
				byName[n], shapeOf[n] = sp, sh
			}
		}
	}
	root, query, job := byName["front/GET /api"], byName["front/query"], byName["worker/async job"]
	if root.Kind != model.KindServer || root.Flags&model.FlagError == 0 || root.Parent != 0 {
		t.Errorf("root %+v", root)
	}
	if root.Start != grpcBase.UnixNano() || root.End-root.Start != int64(200*time.Millisecond+1234) {
		t.Errorf("root times %d..%d: nanoseconds lost", root.Start, root.End)
	}
	if query.Kind != model.KindClient || query.Parent != root.ID || query.Flags&model.FlagError != 0 {
		t.Errorf("query %+v", query)
	}
	if job.Kind != model.KindConsumer || job.Parent != root.ID || job.Flags&model.FlagError == 0 || job.Flags&model.FlagLinked == 0 {
		t.Errorf("async job %+v: want consumer, child of the root by FOLLOWS_FROM, error, linked", job)
	}
	rootShape := shapeOf["front/GET /api"]
	if v, _ := rootShape.Attr("host.name"); v != "h1" {
		t.Errorf("process tag host.name = %q", v)
	}
	if v, _ := rootShape.Attr("http.status_code"); v != "500" {
		t.Errorf("tag http.status_code = %q", v)
	}
}

func TestPullJaegerGRPCTraceIDs(t *testing.T) {
	_, addr := newFakeQueryService(t, 10)
	ids := []string{fmt.Sprintf("%032x", 0x5003), fmt.Sprintf("%032x", 0x5007), fmt.Sprintf("%032x", 0x9999)}
	ds, err := PullJaegerGRPC(context.Background(), addr, TraceQuery{TraceIDs: ids}, testPullOpts(), sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(traceSet(ds)); n != 2 || ds.Spans != 6 {
		t.Errorf("%d traces, %d spans", n, ds.Spans)
	}
	if n := ds.Warnings.Count(WarnTraceNotFound); n != 1 {
		t.Errorf("%d not-found warnings", n)
	}
}

func TestPullJaegerGRPCSave(t *testing.T) {
	_, addr := newFakeQueryService(t, 30)
	lo, hi := grpcWindow()
	dir := filepath.Join(t.TempDir(), "save")
	po := testPullOpts()
	po.SaveDir, po.PageSize = dir, 7
	keep := sources.Options{Keep: []string{"host.name"}}
	ds, err := PullJaegerGRPC(context.Background(), addr, TraceQuery{Start: lo, End: hi}, po, keep)
	if err != nil {
		t.Fatal(err)
	}
	back, err := sources.Load(context.Background(), []string{dir}, keep)
	if err != nil {
		t.Fatal(err)
	}
	a, b := pulledSpans(ds), pulledSpans(back)
	if len(a) != 90 || len(a) != len(b) {
		t.Fatalf("pulled %d spans, read back %d", len(a), len(b))
	}
	for i := range a {
		if a[i].span != b[i].span || a[i].op != b[i].op {
			t.Fatalf("span %d differs: pulled %+v, read back %+v", i, a[i], b[i])
		}
	}
}

type pulledSpan struct {
	span model.Span
	op   string
}

// pulledSpans lists spans sorted, with shapes resolved to names and kept values.
func pulledSpans(ds *model.Dataset) []pulledSpan {
	ops, shapes := ds.Catalog.Ops(), ds.Catalog.Shapes()
	var out []pulledSpan
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, sp := range slab {
				sh := shapes[sp.Shape]
				op := fmt.Sprintf("%s/%s/%v/%v", ops[sh.Op].Service, ops[sh.Op].Name, sh.Kind, sh.Attrs)
				sp.Shape = 0
				out = append(out, pulledSpan{sp, op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].span.Trace != out[j].span.Trace {
			return out[i].span.Trace.String() < out[j].span.Trace.String()
		}
		return out[i].span.ID < out[j].span.ID
	})
	return out
}

func TestJaegerServicesGRPC(t *testing.T) {
	f, addr := newFakeQueryService(t, 1)
	f.wantTok = testSecret
	po := testPullOpts()
	po.Getenv = env(map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": testSecret})
	list, err := JaegerServicesGRPC(context.Background(), addr, nil, po)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Service != "front" || list[0].Operations[0].Name != "GET /api" || list[1].Operations[0].Name != "async job" {
		t.Errorf("%+v", list)
	}
	po.Getenv = env(map[string]string{"TRACE_FORENSICS_JAEGER_TOKEN": "wrong-" + testSecret})
	_, err = JaegerServicesGRPC(context.Background(), addr, nil, po)
	if err == nil || !strings.Contains(err.Error(), "TRACE_FORENSICS_JAEGER_TOKEN were rejected") || strings.Contains(err.Error(), testSecret) {
		t.Errorf("wrong token: %v", err)
	}
}

// UNAVAILABLE is retried with backoff, like HTTP 5xx.
func TestJaegerGRPCRetries(t *testing.T) {
	f, addr := newFakeQueryService(t, 1)
	f.failing = 2
	if _, err := JaegerServicesGRPC(context.Background(), addr, nil, testPullOpts()); err != nil {
		t.Fatalf("after 2 failures: %v", err)
	}
	f.failing = 10
	_, err := JaegerServicesGRPC(context.Background(), addr, nil, testPullOpts())
	if err == nil || !strings.Contains(err.Error(), "GetServices: Unavailable: ") || !strings.Contains(err.Error(), "overloaded") {
		t.Errorf("always failing: %v", err)
	}
	if f.failing != 10-(1+DefaultPullRetries) {
		t.Errorf("%d attempts, want %d", 10-f.failing, 1+DefaultPullRetries)
	}
}

func TestPullJaegerGRPCErrors(t *testing.T) {
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer httpSrv.Close()
	stalled, stallAddr := newFakeQueryService(t, 3)
	stalled.stall = true
	_, small := newFakeQueryService(t, 20)
	lo, hi := grpcWindow()
	cases := []struct {
		name string
		addr string
		opt  func(*PullOptions)
		want []string
	}{
		{name: "connection refused", addr: refusedAddr(t), want: []string{"connection refused", "16685"}},
		{name: "dns", addr: "nohost.invalid:16685", want: []string{"jaeger-grpc nohost.invalid:16685", `cannot resolve host "nohost.invalid"`}},
		{name: "not grpc", addr: strings.TrimPrefix(httpSrv.URL, "http://"), want: []string{"does not speak gRPC"}},
		{name: "tls to plaintext", addr: "grpcs://" + small, want: []string{"TLS handshake failed"}},
		{name: "timeout", addr: stallAddr, opt: func(o *PullOptions) { o.Timeout = 200 * time.Millisecond },
			want: []string{"FindTraces: no answer within 200ms (--timeout)"}},
		{name: "too large", addr: small, opt: func(o *PullOptions) { o.MaxResponseBytes = 300; o.PageSize = 1 },
			want: []string{"larger than --max-response-bytes (300 B)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			po := testPullOpts()
			if c.opt != nil {
				c.opt(&po)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := PullJaegerGRPC(ctx, c.addr, TraceQuery{Services: []string{"front"}, Start: lo, End: hi}, po, sources.Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

func TestGRPCAddr(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:16685":          "",
		"grpc://localhost:16685":   "",
		"grpcs://jaeger:443":       "",
		"localhost":                "not HOST:PORT",
		"u:" + testSecret + "@h:1": "credentials",
	} {
		err := CheckJaegerGRPCAddr(in)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: shows the secret: %v", in, err)
		}
	}
}
