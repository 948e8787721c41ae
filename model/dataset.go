package model

import "math/bits"

// Input describes one file that was read.
type Input struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Spans  int    `json:"spans"`
}

// Dataset is everything read from the inputs: spans partitioned by trace,
// the catalog of names, links and data-quality warnings.
type Dataset struct {
	Catalog  *Catalog
	Links    []Link
	IDText   map[TraceID]string // original text of IDs that were not hex (Jaeger test IDs)
	Warnings Warnings
	Inputs   []Input
	Spans    int
	Keep     []string

	buckets [NumBuckets][][]Span
}

// NumBuckets is the number of trace partitions, see Bucket: spans are
// partitioned by trace ID so that analysis can take whole traces per
// partition on several cores without a global sort.
const NumBuckets = 32

// Bucket returns the spans of partition b as a list of slabs. Every span of
// a trace is in the same partition; order within it is arbitrary.
func (d *Dataset) Bucket(b int) [][]Span { return d.buckets[b] }

// Release drops partition b so its memory can be reused once analysed.
func (d *Dataset) Release(b int) { d.buckets[b] = nil }

// TraceText returns the trace ID as the user knows it: the original text for
// opaque IDs, 32 hex digits otherwise.
func (d *Dataset) TraceText(t TraceID) string {
	if s, ok := d.IDText[t]; ok {
		return s
	}
	return t.String()
}

// NewDataset returns a dataset over spans already partitioned by BucketOf.
func NewDataset(cat *Catalog, keep []string, parts [NumBuckets][][]Span) *Dataset {
	return &Dataset{Catalog: cat, IDText: map[TraceID]string{}, Keep: keep, buckets: parts}
}

// BucketOf returns the bucket a trace's spans are stored in.
func BucketOf(t TraceID) int {
	hi := uint64(t[0])<<56 | uint64(t[1])<<48 | uint64(t[2])<<40 | uint64(t[3])<<32 |
		uint64(t[4])<<24 | uint64(t[5])<<16 | uint64(t[6])<<8 | uint64(t[7])
	lo := uint64(t[8])<<56 | uint64(t[9])<<48 | uint64(t[10])<<40 | uint64(t[11])<<32 |
		uint64(t[12])<<24 | uint64(t[13])<<16 | uint64(t[14])<<8 | uint64(t[15])
	h := (hi ^ bits.RotateLeft64(lo, 31)) * 0x9E3779B97F4A7C15
	return int(h >> (64 - 5))
}
