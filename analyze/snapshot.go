package analyze

// Hooks for snapshots (package snapshot), which store a Result's
// distributions so that a later run can compare against them.

// ExemplarValues returns the values in nanoseconds of d's exemplars, slowest
// first: the order of the trace IDs a Result lists for d.
func (d *Dist) ExemplarValues() []int64 {
	out := make([]int64, len(d.Exemplars.items))
	for i, x := range d.Exemplars.items {
		out[i] = x.ns
	}
	return out
}
