package sources

// jaegerKey is called for top-level keys the OTLP reader does not know; it
// reports whether it consumed the object that starts at start.
func (d *decoder) jaegerKey(k []byte, start, depth int) bool { return false }

// jaegerArray reports whether it consumed a top-level array.
func (d *decoder) jaegerArray(depth int) bool { return false }
