package sources

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// Hooks for the external tests of the Tempo reader (tempo_equiv_test.go),
// which need the analysis package and so cannot live in package sources.

// LoadTempoProto loads a saved Tempo protobuf answer as the file sniffer
// hands one to the decoders.
func LoadTempoProto(name string, buf []byte, opt Options) (*Dataset, error) {
	return run(context.Background(), opt, func(ctx context.Context, l *loader) error {
		in := &input{path: "-", name: name}
		l.register(in)
		return produceTracesProto(in, bufioReader(buf), l.send, int64(len(buf)))
	})
}

// TempoTestTraces are the traces the fake Tempo serves for cfg.
func TempoTestTraces(cfg synth.Config) [][]synth.Span { return tempoSynthTraces(cfg) }

// NewFakeTempo serves cfg's traces through Tempo's documented HTTP API.
func NewFakeTempo(t testing.TB, cfg synth.Config) *httptest.Server {
	_, srv := newFakeTempo(t, cfg)
	return srv
}
