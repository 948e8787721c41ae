// Package synth generates realistic LLM chat traces for the sample in
// testdata/, the benchmarks and tests with planted latencies. Output is
// deterministic for a seed.
package synth

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config shapes the generated traffic.
type Config struct {
	Requests int
	Seed     uint64
	Start    time.Time     // first request; default 2026-11-20T14:00:00Z
	Interval time.Duration // between request starts; default 150ms
	// LLMFactor multiplies LLM latency per prompt version ("A", "B"), e.g.
	// {"B": 1.2} plants a 20 % regression in version B.
	LLMFactor map[string]float64
	// StageFactor multiplies the duration of the spans of a stage by name
	// (StageSession, StageRetrieval, …) for every request.
	StageFactor map[string]float64
	ErrorRate   float64 // share of requests whose LLM call fails; default 0.02
	BatchSpans  int     // spans per written line; default 64
	// Prompts puts the user's prompt and email in attributes, as careless
	// instrumentation does; reports must never show them.
	NoPII bool
}

// Stage names as the generator plants them; analysis tests compare with them.
const (
	StageEntry      = "request entry"
	StageSession    = "session load"
	StageIntent     = "intent classification"
	StageFanout     = "service fan-out"
	StageRetrieval  = "retrieval and reranking"
	StageLLM        = "LLM invocation"
	StageGuardrails = "guardrails"
	StagePersist    = "persistence"
	StageAnalytics  = "analytics emission"
)

// KV is one attribute.
type KV struct {
	Key   string
	Value any // string, int64, bool, float64
}

// Span is one generated span.
type Span struct {
	TraceID    [16]byte
	SpanID     [8]byte
	Parent     [8]byte // zero for the root
	Service    string
	Name       string
	Kind       int // OTLP enum
	Start, End int64
	Attrs      []KV
	Error      bool
	Stage      string // the stage the generator meant; not written out
}

// Resource attributes per service.
var serviceVersion = map[string]string{
	"chat-gateway": "1.4.2", "session-store": "2.0.1", "intent-classifier": "0.9.0",
	"retrieval": "3.1.0", "profile-service": "1.0.7", "llm-gateway": "2.2.0",
	"analytics-worker": "1.1.3",
}

// Generator produces traces one at a time.
type Generator struct {
	cfg Config
	rng *rand.Rand
	n   int
}

// New returns a generator for cfg with defaults filled in.
func New(cfg Config) *Generator {
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 150 * time.Millisecond
	}
	if cfg.ErrorRate == 0 {
		cfg.ErrorRate = 0.02
	}
	if cfg.BatchSpans == 0 {
		cfg.BatchSpans = 64
	}
	return &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))}
}

// lognormal returns a duration with the given median and spread (sigma of
// the log), in nanoseconds.
func (g *Generator) lognormal(medianMs, sigma float64) int64 {
	return int64(medianMs * math.Exp(sigma*g.rng.NormFloat64()) * 1e6)
}

func (g *Generator) id8() (b [8]byte) {
	v := g.rng.Uint64() | 1
	for i := range b {
		b[i] = byte(v >> (56 - 8*i))
	}
	return b
}

func (g *Generator) factor(stage string) float64 {
	if f, ok := g.cfg.StageFactor[stage]; ok {
		return f
	}
	return 1
}

var firstNames = []string{"ada", "grace", "linus", "ken", "barbara", "alan", "margaret", "dennis"}
var prompts = []string{
	"Where is my order 4411? I live at 12 Elm Street",
	"Cancel my subscription, my card ends in 4242",
	"Summarise my last three invoices",
	"What is your refund policy for damaged goods?",
}

// Next returns the spans of the next request, parents before children.
func (g *Generator) Next() []Span {
	cfg := &g.cfg
	i := g.n
	g.n++
	var trace [16]byte
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	for k := 0; k < 8; k++ {
		trace[k] = byte(hi >> (56 - 8*k))
		trace[8+k] = byte(lo >> (56 - 8*k))
	}
	version := "A"
	if g.rng.IntN(2) == 1 {
		version = "B"
	}
	model := "gpt-4o"
	if g.rng.IntN(4) == 0 {
		model = "gpt-4o-mini"
	}
	failed := g.rng.Float64() < cfg.ErrorRate
	start := cfg.Start.UnixNano() + int64(i)*int64(cfg.Interval) + g.rng.Int64N(int64(cfg.Interval)/2+1)

	var spans []Span
	add := func(parent *Span, service, name string, kind int, s, e int64, stage string, attrs ...KV) *Span {
		sp := Span{TraceID: trace, SpanID: g.id8(), Service: service, Name: name, Kind: kind,
			Start: s, End: e, Attrs: attrs, Stage: stage}
		if parent != nil {
			sp.Parent = parent.SpanID
		}
		spans = append(spans, sp)
		return &spans[len(spans)-1]
	}
	spans = make([]Span, 0, 24)
	const (
		internal = 1
		server   = 2
		client   = 3
		producer = 4
		consumer = 5
	)
	gap := func() int64 { return g.lognormal(0.4, 0.5) } // untraced work between steps
	ms := int64(time.Millisecond)

	rootAttrs := []KV{{"http.request.method", "POST"}, {"http.route", "/v1/chat"}, {"prompt.version", version}, {"session.id", fmt.Sprintf("s-%06d", g.rng.IntN(1000000))}}
	if !cfg.NoPII {
		rootAttrs = append(rootAttrs, KV{"user.email", fmt.Sprintf("%s.%d@example.com", firstNames[g.rng.IntN(len(firstNames))], g.rng.IntN(1000))})
	}
	root := add(nil, "chat-gateway", "POST /v1/chat", server, start, 0, StageEntry, rootAttrs...)
	rootIdx := len(spans) - 1
	t := start + g.lognormal(1.5, 0.3)

	// Session load: gateway → session-store → redis.
	dSess := int64(float64(g.lognormal(6, 0.6)) * g.factor(StageSession))
	c := add(root, "chat-gateway", "GET /sessions/{id}", client, t, t+dSess+2*ms, StageSession, KV{"http.request.method", "GET"})
	sv := add(c, "session-store", "GET /sessions/{id}", server, t+ms/2, t+dSess+ms+ms/2, StageSession, KV{"http.route", "/sessions/{id}"})
	add(sv, "session-store", "redis GET", client, t+ms, t+ms+dSess-ms/2, StageSession, KV{"db.system.name", "redis"}, KV{"db.operation.name", "GET"})
	t += dSess + 2*ms + gap()

	// Intent classification.
	dInt := int64(float64(g.lognormal(22, 0.35)) * g.factor(StageIntent))
	c = add(root, "chat-gateway", "POST /classify", client, t, t+dInt+ms, StageIntent, KV{"http.request.method", "POST"})
	add(c, "intent-classifier", "classify_intent", server, t+ms/2, t+dInt+ms/2, StageIntent, KV{"intent.label", "billing"})
	t += dInt + ms + gap()

	// Input guardrail.
	dGin := int64(float64(g.lognormal(12, 0.4)) * g.factor(StageGuardrails))
	add(root, "chat-gateway", "apply_guardrail input-filter", internal, t, t+dGin, StageGuardrails, KV{"gen_ai.operation.name", "apply_guardrail"}, KV{"gen_ai.guardrail.name", "input-filter"})
	t += dGin + gap()

	// Fan-out: retrieval and the profile lookup run in parallel.
	orch := add(root, "chat-gateway", "orchestrate", internal, t, 0, StageFanout)
	orchIdx := len(spans) - 1
	rf := g.factor(StageRetrieval)
	dEmb := int64(float64(g.lognormal(18, 0.4)) * rf)
	dVec := int64(float64(g.lognormal(25, 0.5)) * rf)
	dRr := int64(float64(g.lognormal(35, 0.45)) * rf)
	rt := t + ms/2
	rc := add(orch, "chat-gateway", "POST /retrieve", client, rt, rt+dEmb+dVec+dRr+3*ms, StageRetrieval, KV{"http.request.method", "POST"})
	rs := add(rc, "retrieval", "retrieve", server, rt+ms/2, rt+dEmb+dVec+dRr+2*ms+ms/2, StageRetrieval, KV{"openinference.span.kind", "RETRIEVER"}, KV{"gen_ai.operation.name", "retrieval"})
	x := rt + ms
	add(rs, "retrieval", "embeddings text-embedding-3-small", client, x, x+dEmb, StageRetrieval, KV{"gen_ai.operation.name", "embeddings"}, KV{"gen_ai.request.model", "text-embedding-3-small"})
	x += dEmb
	add(rs, "retrieval", "qdrant search", client, x, x+dVec, StageRetrieval, KV{"db.system.name", "qdrant"}, KV{"db.operation.name", "search"})
	x += dVec + ms/2
	add(rs, "retrieval", "rerank", internal, x, x+dRr, StageRetrieval, KV{"openinference.span.kind", "RERANKER"})
	retrEnd := rt + dEmb + dVec + dRr + 3*ms

	dProf := int64(float64(g.lognormal(14, 0.5)) * g.factor(StageFanout))
	pt := t + ms/2
	pc := add(orch, "chat-gateway", "POST /profile", client, pt, pt+dProf+2*ms, StageFanout, KV{"http.request.method", "POST"})
	ps := add(pc, "profile-service", "GET /profile", server, pt+ms/2, pt+dProf+ms+ms/2, StageFanout, KV{"http.route", "/profile"})
	add(ps, "profile-service", "SELECT users", client, pt+ms, pt+ms+dProf-ms/2, StagePersist, KV{"db.system.name", "postgresql"}, KV{"db.operation.name", "SELECT"})
	fanEnd := max(retrEnd, pt+dProf+2*ms) + ms/2
	spans[orchIdx].End = fanEnd
	t = fanEnd + gap()

	// LLM invocation through the LLM gateway.
	f := 1.0
	if v, ok := cfg.LLMFactor[version]; ok {
		f = v
	}
	f *= g.factor(StageLLM)
	median := 850.0
	if model == "gpt-4o-mini" {
		median = 420
	}
	dLLM := int64(float64(g.lognormal(median, 0.45)) * f)
	in, out := 300+g.rng.IntN(1500), 40+g.rng.IntN(400)
	lc := add(root, "chat-gateway", "POST /v1/chat/completions", client, t, t+dLLM+4*ms, StageLLM, KV{"http.request.method", "POST"})
	ls := add(lc, "llm-gateway", "POST /v1/chat/completions", server, t+ms, t+dLLM+3*ms, StageLLM, KV{"http.route", "/v1/chat/completions"})
	llmAttrs := []KV{{"gen_ai.operation.name", "chat"}, {"gen_ai.request.model", model}, {"gen_ai.provider.name", "openai"},
		{"gen_ai.usage.input_tokens", int64(in)}, {"gen_ai.usage.output_tokens", int64(out)}, {"prompt.version", version}}
	if !cfg.NoPII {
		llmAttrs = append(llmAttrs, KV{"gen_ai.prompt", prompts[g.rng.IntN(len(prompts))]})
	}
	llm := add(ls, "llm-gateway", "chat "+model, client, t+2*ms, t+2*ms+dLLM, StageLLM, llmAttrs...)
	if failed {
		llm.Error = true
		ls.Error = true
	}
	t += dLLM + 4*ms + gap()

	if !failed {
		// Output guardrail and persistence.
		dGout := int64(float64(g.lognormal(18, 0.4)) * g.factor(StageGuardrails))
		add(root, "chat-gateway", "apply_guardrail output-filter", internal, t, t+dGout, StageGuardrails, KV{"gen_ai.operation.name", "apply_guardrail"}, KV{"gen_ai.guardrail.name", "output-filter"})
		t += dGout + gap()
		dDB := int64(float64(g.lognormal(9, 0.5)) * g.factor(StagePersist))
		add(root, "chat-gateway", "INSERT messages", client, t, t+dDB, StagePersist, KV{"db.system.name", "postgresql"}, KV{"db.operation.name", "INSERT"}, KV{"db.collection.name", "messages"})
		t += dDB + gap()
	}

	// Analytics: a quick publish on the path, processing off it.
	dPub := int64(float64(g.lognormal(1.5, 0.4)) * g.factor(StageAnalytics))
	pub := add(root, "chat-gateway", "analytics.events publish", producer, t, t+dPub, StageAnalytics, KV{"messaging.system", "kafka"}, KV{"messaging.operation.type", "send"}, KV{"messaging.destination.name", "analytics.events"})
	cs := t + dPub + g.lognormal(5, 0.6)
	add(pub, "analytics-worker", "analytics.events process", consumer, cs, cs+g.lognormal(40, 0.5), StageAnalytics, KV{"messaging.system", "kafka"}, KV{"messaging.operation.type", "process"})
	t += dPub + g.lognormal(0.8, 0.3)

	spans[rootIdx].End = t
	if failed {
		spans[rootIdx].Error = true
		spans[rootIdx].Attrs = append(spans[rootIdx].Attrs, KV{"http.response.status_code", int64(502)})
	} else {
		spans[rootIdx].Attrs = append(spans[rootIdx].Attrs, KV{"http.response.status_code", int64(200)})
	}
	return spans
}

// WriteJSONL writes cfg.Requests traces as the Collector file exporter
// does: one ExportTraceServiceRequest per line, each holding a batch of one
// service's spans, so the spans of a trace are spread over many lines.
// It returns the number of spans written.
func WriteJSONL(w io.Writer, cfg Config) (int, error) {
	g := New(cfg)
	bw := bufio.NewWriterSize(w, 1<<20)
	pending := map[string][]Span{}
	order := []string{}
	total := 0
	var line []byte
	flush := func(service string) error {
		line = appendLine(line[:0], service, pending[service])
		line = append(line, '\n')
		pending[service] = pending[service][:0]
		_, err := bw.Write(line)
		return err
	}
	for range cfg.Requests {
		for _, s := range g.Next() {
			if _, ok := pending[s.Service]; !ok {
				order = append(order, s.Service)
			}
			pending[s.Service] = append(pending[s.Service], s)
			total++
			if len(pending[s.Service]) >= g.cfg.BatchSpans {
				if err := flush(s.Service); err != nil {
					return total, err
				}
			}
		}
	}
	for _, svc := range order {
		if len(pending[svc]) > 0 {
			if err := flush(svc); err != nil {
				return total, err
			}
		}
	}
	return total, bw.Flush()
}

const hexDigits = "0123456789abcdef"

func appendHex(b []byte, id []byte) []byte {
	for _, c := range id {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

func appendKV(b []byte, kv KV) []byte {
	b = append(b, `{"key":`...)
	b = strconv.AppendQuote(b, kv.Key)
	b = append(b, `,"value":{`...)
	switch v := kv.Value.(type) {
	case string:
		b = append(b, `"stringValue":`...)
		b = strconv.AppendQuote(b, v)
	case int64:
		b = append(b, `"intValue":"`...)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '"')
	case bool:
		b = append(b, `"boolValue":`...)
		b = strconv.AppendBool(b, v)
	case float64:
		b = append(b, `"doubleValue":`...)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, "}}"...)
}

// appendLine writes one ExportTraceServiceRequest with one resource.
func appendLine(b []byte, service string, spans []Span) []byte {
	b = append(b, `{"resourceSpans":[{"resource":{"attributes":[`...)
	b = appendKV(b, KV{"service.name", service})
	b = append(b, ',')
	b = appendKV(b, KV{"service.version", serviceVersion[service]})
	b = append(b, ',')
	b = appendKV(b, KV{"deployment.environment.name", "prod"})
	b = append(b, `]},"scopeSpans":[{"scope":{"name":"chat-instrumentation","version":"0.3.1"},"spans":[`...)
	for i, s := range spans {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"traceId":"`...)
		b = appendHex(b, s.TraceID[:])
		b = append(b, `","spanId":"`...)
		b = appendHex(b, s.SpanID[:])
		b = append(b, `","parentSpanId":"`...)
		if s.Parent != [8]byte{} {
			b = appendHex(b, s.Parent[:])
		}
		b = append(b, `","name":`...)
		b = strconv.AppendQuote(b, s.Name)
		b = append(b, `,"kind":`...)
		b = strconv.AppendInt(b, int64(s.Kind), 10)
		b = append(b, `,"startTimeUnixNano":"`...)
		b = strconv.AppendInt(b, s.Start, 10)
		b = append(b, `","endTimeUnixNano":"`...)
		b = strconv.AppendInt(b, s.End, 10)
		b = append(b, `","attributes":[`...)
		for j, kv := range s.Attrs {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendKV(b, kv)
		}
		b = append(b, `],"status":{`...)
		if s.Error {
			b = append(b, `"code":2,"message":"upstream model call failed"`...)
		}
		b = append(b, "}}"...)
	}
	return append(b, "]}]}]}"...)
}

// SpansPerRequest is the number of spans of a request whose LLM call
// succeeds; failed ones have two fewer.
const SpansPerRequest = 23
