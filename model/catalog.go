package model

import "sync"

// Catalog interns operations and shapes. Readers on several goroutines share
// one; each keeps a private cache in front of it so the lock is taken only
// for names not seen before.
type Catalog struct {
	mu      sync.Mutex
	ops     []Op
	opIndex map[Op]uint32
	shapes  []Shape
	index   map[string]uint32
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{opIndex: map[Op]uint32{}, index: map[string]uint32{}}
}

// Ops returns the interned operations; the index is Shape.Op.
func (c *Catalog) Ops() []Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[:len(c.ops):len(c.ops)]
}

// Shapes returns the interned shapes; the index is Span.Shape.
func (c *Catalog) Shapes() []Shape {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shapes[:len(c.shapes):len(c.shapes)]
}

// Intern returns the index of the shape with the given key, creating it from
// the parts when it is new.
func (c *Catalog) Intern(key []byte, service, name string, kind Kind, attrs []Attr) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[string(key)]; ok {
		return i
	}
	op := Op{Service: service, Name: name}
	oi, ok := c.opIndex[op]
	if !ok {
		oi = uint32(len(c.ops))
		c.ops = append(c.ops, op)
		c.opIndex[op] = oi
	}
	i := uint32(len(c.shapes))
	c.shapes = append(c.shapes, Shape{Op: oi, Kind: kind, Attrs: attrs})
	c.index[string(key)] = i
	return i
}
