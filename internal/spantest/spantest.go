// Package spantest lists a dataset's spans with their names resolved, so
// that tests of readers and live clients can compare what was loaded.
package spantest

import (
	"bytes"
	"sort"
	"strings"

	"github.com/trace-forensics/trace-forensics/model"
)

// Span is a loaded span with its names resolved, for comparisons.
type Span struct {
	Trace   model.TraceID
	ID      model.SpanID
	Parent  model.SpanID
	Start   int64
	End     int64
	Service string
	Name    string
	Kind    model.Kind
	Flags   model.Flags
	Attrs   string // kept attributes, "k=v" joined by ", "
}

// List returns the dataset's spans sorted by trace, start and ID.
func List(ds *model.Dataset) []Span {
	ops, shapes := ds.Catalog.Ops(), ds.Catalog.Shapes()
	var out []Span
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, s := range slab {
				sh := shapes[s.Shape]
				var attrs []string
				for _, a := range sh.Attrs {
					attrs = append(attrs, a.Key+"="+a.Value)
				}
				out = append(out, Span{
					Trace: s.Trace, ID: s.ID, Parent: s.Parent, Start: s.Start, End: s.End,
					Service: ops[sh.Op].Service, Name: ops[sh.Op].Name, Kind: s.Kind, Flags: s.Flags,
					Attrs: strings.Join(attrs, ", "),
				})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := bytes.Compare(a.Trace[:], b.Trace[:]); c != 0 {
			return c < 0
		}
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.ID < b.ID
	})
	return out
}

// Raw returns the dataset's spans sorted by start and ID.
func Raw(ds *model.Dataset) []model.Span {
	var out []model.Span
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			out = append(out, slab...)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Start < out[j].Start || out[i].Start == out[j].Start && out[i].ID < out[j].ID
	})
	return out
}
