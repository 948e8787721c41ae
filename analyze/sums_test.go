package analyze

import (
	"math/rand/v2"
	"testing"
)

func TestSumsAgreesWithMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s sums
	want := map[uint64]int64{}
	for i := range 20000 {
		// Few distinct keys, as gaps have, plus the extremes of the range.
		k := uint64(rng.IntN(700)) << 21
		switch i % 1000 {
		case 1:
			k = 0
		case 2:
			k = 1<<63 - 1
		}
		v := rng.Int64N(1000) - 100
		s.add(k, v)
		want[k] += v
	}
	got := map[uint64]int64{}
	s.each(func(k uint64, v int64) {
		if _, dup := got[k]; dup {
			t.Errorf("key %d listed twice", k)
		}
		got[k] = v
	})
	if len(got) != len(want) || s.n != len(want) {
		t.Fatalf("%d keys listed, %d counted, want %d", len(got), s.n, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %d: sum %d, want %d", k, got[k], v)
		}
	}
}
