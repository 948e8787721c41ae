package analyze

// chunks is an append-only list kept in chunks that never move: growing it
// never copies, so a long list costs its values and no garbage, and
// merging two lists shares their chunks. Chunks start small (a list of
// three values costs little) and grow to maxChunk.
type chunks[T any] struct {
	c [][]T
	n int
}

const (
	minChunk = 8
	maxChunk = 4096
)

func (l *chunks[T]) add(v T) {
	k := len(l.c)
	if k == 0 || len(l.c[k-1]) == cap(l.c[k-1]) {
		size := minChunk
		if k > 0 {
			size = min(2*cap(l.c[k-1]), maxChunk)
		}
		l.c = append(l.c, make([]T, 0, size))
		k++
	}
	l.c[k-1] = append(l.c[k-1], v)
	l.n++
}

// merge appends o's values by sharing its chunks. Shared chunks are capped
// at their length, so neither list ever writes into the other's.
func (l *chunks[T]) merge(o *chunks[T]) {
	for _, c := range o.c {
		if len(c) > 0 {
			l.c = append(l.c, c[:len(c):len(c)])
		}
	}
	l.n += o.n
}

// flat returns the values in one new slice.
func (l *chunks[T]) flat() []T {
	out := make([]T, 0, l.n)
	for _, c := range l.c {
		out = append(out, c...)
	}
	return out
}

// each calls fn with every value in order.
func (l *chunks[T]) each(fn func(T)) {
	for _, c := range l.c {
		for _, v := range c {
			fn(v)
		}
	}
}

// cursor reads a list in order.
type cursor[T any] struct {
	l    *chunks[T]
	i, j int
}

func (c *cursor[T]) next() T {
	for c.j == len(c.l.c[c.i]) {
		c.i, c.j = c.i+1, 0
	}
	v := c.l.c[c.i][c.j]
	c.j++
	return v
}
