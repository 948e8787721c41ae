package sources

// jaegerData reads the value of a Jaeger envelope's "data" key.
func (d *decoder) jaegerData() { d.s.skip() }

// jaegerErrors reads a Jaeger envelope's "errors" list.
func (d *decoder) jaegerErrors() { d.s.skip() }

// jaegerTrace reads one Jaeger trace object.
func (d *decoder) jaegerTrace() { d.s.skip() }

// jaegerTraceArray reads a bare array of Jaeger traces.
func (d *decoder) jaegerTraceArray() { d.s.skip() }
