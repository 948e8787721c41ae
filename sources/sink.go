package sources

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/trace-forensics/trace-forensics/model"
)

// spanRec is a span as a decoder sees it, before its names are interned.
// Byte slices point into the decoder's arena.
type spanRec struct {
	trace      model.TraceID
	id, parent model.SpanID
	start, end int64
	hasStart   bool
	hasEnd     bool
	kind       model.Kind
	flags      model.Flags
	name       []byte
	service    []byte      // set when the format carries it per span (Jaeger, Zipkin)
	attrs      []keptValue // kept attributes, in the order met
	links      []model.Link
	bad        string // why the span is unusable; empty when fine
	pos        int    // byte offset of the span in the decoded buffer
}

type keptValue struct {
	key int // index into sink.keep
	val []byte
}

func (r *spanRec) reset() {
	attrs, links := r.attrs[:0], r.links[:0]
	*r = spanRec{attrs: attrs, links: links}
}

// sink receives the spans of one reader goroutine. It interns shapes through
// a private cache and appends spans to per-bucket slices.
type sink struct {
	cat       *model.Catalog
	keep      []string  // attribute keys whose values are kept, sorted
	keepByLen [][]int32 // indexes into keep by key length
	cache     map[string]uint32
	recent    [256]recentShape // in front of cache: most lookups end here
	buckets   [model.NumBuckets][]model.Span
	links     []model.Link
	idText    map[model.TraceID]string
	warn      model.Warnings
	keyBuf    []byte
	attrBuf   []keptValue

	// where the current buffer came from, for messages
	file       string
	buf        []byte
	lineBase   int        // line number of buf[0], 0 when the input is not line-based
	lineAt     func() int // or what finds it when asked (a mapped file)
	byteBase   int64
	fileIdx    int
	spans      int // spans accepted from the current file
	partial    int // responses marked partial by the server (Tempo)
	inputSpans map[*input]int
}

func newSink(cat *model.Catalog, keep []string) *sink {
	sk := &sink{cat: cat, keep: keep, cache: map[string]uint32{}, idText: map[model.TraceID]string{}, inputSpans: map[*input]int{}}
	// Most attribute keys are not kept: looking only at kept keys of the
	// same length rejects them with one comparison.
	sk.keepByLen = make([][]int32, 128)
	for i, k := range keep {
		if len(k) < len(sk.keepByLen) {
			sk.keepByLen[len(k)] = append(sk.keepByLen[len(k)], int32(i))
		}
	}
	return sk
}

// keepIndex returns the index of an attribute key the user asked to keep, or -1.
func (sk *sink) keepIndex(k []byte) int {
	if len(k) < len(sk.keepByLen) {
		for _, i := range sk.keepByLen[len(k)] {
			if sk.keep[i] == string(k) {
				return int(i)
			}
		}
		return -1
	}
	for i, kk := range sk.keep {
		if len(kk) == len(k) && kk == string(k) {
			return i
		}
	}
	return -1
}

// where describes a byte offset of the current buffer for messages.
func (sk *sink) where(pos int) string {
	if pos > len(sk.buf) {
		pos = len(sk.buf)
	}
	if sk.lineBase == 0 && sk.lineAt != nil {
		sk.lineBase = sk.lineAt()
	}
	if sk.lineBase > 0 {
		line := sk.lineBase + bytes.Count(sk.buf[:pos], []byte{'\n'})
		return fmt.Sprintf("%s: line %d (byte %d)", sk.file, line, sk.byteBase+int64(pos))
	}
	return fmt.Sprintf("%s: byte %d", sk.file, sk.byteBase+int64(pos))
}

// warnf counts a warning at a byte offset of the current buffer.
func (sk *sink) warnf(kind string, pos int, format string, args ...any) {
	key := fmt.Sprintf("%08d:%016d", sk.fileIdx, sk.byteBase+int64(pos))
	sk.warn.AddKeyed(kind, 1, key, func() string { return sk.where(pos) + ": " + fmt.Sprintf(format, args...) })
}

// emit validates a decoded span, interns its shape and stores it. service
// and resource are the service name and kept resource attributes of the
// span's resource (or process); a per-span service in r overrides them.
func (sk *sink) emit(r *spanRec, service []byte, resource []keptValue) {
	if r.bad != "" {
		sk.warnf(model.WarnBadSpan, r.pos, "%s", r.bad)
		return
	}
	if r.trace.IsZero() || r.id == 0 {
		sk.warnf(model.WarnBadSpan, r.pos, "span %q: missing or zero trace or span ID", r.name)
		return
	}
	if !r.hasStart || !r.hasEnd {
		sk.warnf(model.WarnMissingTime, r.pos, "span %s: no start or end time", r.id)
		return
	}
	if r.end < r.start {
		sk.warnf(model.WarnEndBeforeStart, r.pos, "span %s: ends %dns before it starts; duration taken as 0", r.id, r.start-r.end)
		r.end = r.start
	}
	if r.service != nil {
		service = r.service
	}
	if len(service) == 0 {
		sk.warnf(model.WarnMissingService, r.pos, "span %s: no service.name; counted as service \"unknown\"", r.id)
		service = []byte("unknown")
	}

	// The shape key: service, name, kind and kept values, span over resource.
	key := append(sk.keyBuf[:0], service...)
	key = append(key, 0)
	key = append(key, r.name...)
	key = append(key, 0, byte(r.kind))
	// Kept values in key order, the span's over its resource's.
	vals := sk.attrBuf[:0]
	for _, src := range [2][]keptValue{r.attrs, resource} {
		for _, a := range src {
			if _, dup := lookupKept(vals, a.key); !dup {
				vals = append(vals, a)
			}
		}
	}
	for i := 1; i < len(vals); i++ { // a handful at most: insertion sort
		for j := i; j > 0 && vals[j].key < vals[j-1].key; j-- {
			vals[j], vals[j-1] = vals[j-1], vals[j]
		}
	}
	for _, v := range vals {
		key = append(key, 0, byte(v.key>>8), byte(v.key))
		key = append(key, v.val...)
	}
	sk.keyBuf, sk.attrBuf = key, vals
	slot := &sk.recent[recentSlot(key)]
	shape := slot.shape
	if string(slot.key) != string(key) {
		var ok bool
		shape, ok = sk.cache[string(key)]
		if !ok {
			var attrs []model.Attr
			for _, v := range vals {
				attrs = append(attrs, model.Attr{Key: sk.keep[v.key], Value: string(v.val)})
			}
			shape = sk.cat.Intern(key, string(service), string(r.name), r.kind, attrs)
			sk.cache[string(key)] = shape
		}
		slot.key, slot.shape = append(slot.key[:0], key...), shape
	}
	flags := r.flags
	if len(r.links) > 0 {
		flags |= model.FlagLinked
		sk.links = append(sk.links, r.links...)
	}
	b := model.BucketOf(r.trace)
	sk.buckets[b] = append(sk.buckets[b], model.Span{
		Trace: r.trace, ID: r.id, Parent: r.parent,
		Start: r.start, End: r.end, Shape: shape, Kind: r.kind, Flags: flags,
	})
	sk.spans++
}

func lookupKept(vals []keptValue, key int) ([]byte, bool) {
	for _, v := range vals {
		if v.key == key {
			return v.val, true
		}
	}
	return nil, false
}

// recentShape is a shape key met lately and its shape.
type recentShape struct {
	key   []byte // reused from key to key: a miss allocates nothing
	shape uint32
}

// recentSlot picks a key's slot from its first and last eight bytes (the
// service, and the end of the span name with the kind and kept values) and
// its length: cheaper than hashing it all, and a clash only costs a lookup
// in the map.
func recentSlot(key []byte) uint8 {
	var h uint64
	if len(key) >= 8 {
		h = binary.LittleEndian.Uint64(key) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(key[len(key)-8:]), 29)
	} else {
		for _, c := range key {
			h = h<<8 | uint64(c)
		}
	}
	return uint8((h ^ uint64(len(key))) * 0x9e3779b97f4a7c15 >> 56)
}
