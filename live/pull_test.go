package live

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trace-forensics/trace-forensics/sources"
)

func TestNormalizeTraceID(t *testing.T) {
	for in, want := range map[string]string{
		"5B8EFFF798038103D269B633813FC60C": "5b8efff798038103d269b633813fc60c",
		" abc ":                            "00000000000000000000000000000abc",
		"b8efff798038103d269b633813fc60c":  "0b8efff798038103d269b633813fc60c", // 31 digits
	} {
		if got, err := NormalizeTraceID(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "xyz", strings.Repeat("a", 33), "12-34"} {
		if _, err := NormalizeTraceID(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestQueryWindow(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q := TraceQuery{}
	w, err := q.window(now)
	if err != nil || !w.end.Equal(now) || !w.start.Equal(now.Add(-DefaultPullLookback)) {
		t.Errorf("default window %v %v", w, err)
	}
	q = TraceQuery{Start: now, End: now}
	if _, err := q.window(now); err == nil {
		t.Error("empty window accepted")
	}
	early, late := window{now, now.Add(time.Second)}.halves()
	if !early.end.Equal(late.start) || !late.end.Equal(now.Add(time.Second)) {
		t.Errorf("halves %v %v", early, late)
	}
	if (window{now, now.Add(time.Microsecond)}).splittable() {
		t.Error("a 1µs window is splittable")
	}
}

// stubSource answers searches from a function, for the paging logic alone.
type stubSource struct {
	answer func(w window, n int) (*page, error)
	calls  int
}

func (s *stubSource) name() string     { return "stub" }
func (s *stubSource) saveName() string { return "stub" }
func (s *stubSource) fetch(context.Context, string) (*page, error) {
	return nil, errors.New("no fetch")
}
func (s *stubSource) search(_ context.Context, _ *TraceQuery, _ string, w window, n int) (*page, error) {
	s.calls++
	return s.answer(w, n)
}

// A window that always answers full and cannot be split is a warning, and
// the pull ends instead of looping.
func TestSearchUnsplittableWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := func(ids ...string) *page {
		pg := &page{}
		for _, id := range ids {
			pg.traces = append(pg.traces, pageTrace{id: id})
		}
		pg.encode = func(keep map[string]bool) ([]byte, error) { return []byte(`{"resourceSpans":[]}`), nil }
		return pg
	}
	src := &stubSource{answer: func(w window, n int) (*page, error) { return body("a", "b"), nil }}
	ds, err := pull(context.Background(), src, TraceQuery{Start: start, End: start.Add(time.Microsecond), Limit: 10}, PullOptions{PageSize: 2}, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := ds.Warnings.Count(WarnSearchTruncated); n != 1 {
		t.Errorf("%d search_truncated warnings: %v", n, ds.Warnings.List())
	}
	if src.calls != 1 {
		t.Errorf("%d searches", src.calls)
	}

	// Too large for one answer: split until it fits.
	calls := 0
	src = &stubSource{answer: func(w window, n int) (*page, error) {
		calls++
		if w.end.Sub(w.start) > time.Second {
			return nil, &PullError{URL: "u", Msg: "big", Err: errTooLarge}
		}
		return body(), nil
	}}
	if _, err := pull(context.Background(), src, TraceQuery{Start: start, End: start.Add(4 * time.Second)}, PullOptions{}, sources.Options{}); err != nil {
		t.Fatal(err)
	}
	if calls != 7 { // 4s → 2×2s → 4×1s
		t.Errorf("%d searches, want 7", calls)
	}
}

func TestPullCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := &stubSource{answer: func(w window, n int) (*page, error) { return nil, context.Canceled }}
	if _, err := pull(ctx, src, TraceQuery{}, PullOptions{}, sources.Options{}); err == nil {
		t.Error("no error after cancel")
	}
}
