package live

import (
	"net/http/httptest"
	"testing"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// Hooks for the external test that compares Tempo answers read as files
// and pulled live (tempo_equiv_test.go), which needs the analysis package.

// TempoTestTraces are the traces the fake Tempo serves for cfg.
func TempoTestTraces(cfg synth.Config) [][]synth.Span { return tempoSynthTraces(cfg) }

// NewFakeTempo serves cfg's traces through Tempo's documented HTTP API.
func NewFakeTempo(t testing.TB, cfg synth.Config) *httptest.Server {
	_, srv := newFakeTempo(t, cfg)
	return srv
}
