package analyze

// sums adds up values by a 63-bit key in an open-addressing table: the
// critical-path gaps are summed once per slice of every trace, where a Go
// map's hashing and bookkeeping cost several times the addition.
type sums struct {
	keys []uint64 // key | usedBit; 0 marks a free slot
	vals []int64
	n    int
}

const usedBit = 1 << 63

// add adds v to key's sum; key must be below 1<<63.
func (s *sums) add(key uint64, v int64) {
	if 2*(s.n+1) > len(s.keys) {
		s.grow()
	}
	k := key | usedBit
	mask := uint64(len(s.keys) - 1)
	i := mix(key) & mask
	for {
		switch s.keys[i] {
		case k:
			s.vals[i] += v
			return
		case 0:
			s.keys[i], s.vals[i] = k, v
			s.n++
			return
		}
		i = (i + 1) & mask
	}
}

func (s *sums) grow() {
	old, oldVals := s.keys, s.vals
	size := max(16, 2*len(old))
	s.keys, s.vals, s.n = make([]uint64, size), make([]int64, size), 0
	for i, k := range old {
		if k != 0 {
			s.add(k&^usedBit, oldVals[i])
		}
	}
}

// each calls fn with every key and its sum, in no particular order.
func (s *sums) each(fn func(key uint64, v int64)) {
	for i, k := range s.keys {
		if k != 0 {
			fn(k&^usedBit, s.vals[i])
		}
	}
}

// mix spreads a key's bits over the low ones (the finalizer of SplitMix64).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
