package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Options controls loading.
type Options struct {
	// Keep lists attribute keys whose values analysis needs (grouping keys,
	// stage rules). No other attribute value is stored.
	Keep []string
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
	// Stdin is read for the path "-".
	Stdin io.Reader
}

// slabSize is how many spans one storage slab holds.
const slabSize = 4096

// store holds spans per partition in fixed-size slabs, so growth never
// copies or doubles memory.
type store struct {
	mu    [model.NumBuckets]sync.Mutex
	slabs [model.NumBuckets][][]model.Span
}

func (st *store) add(b int, spans []model.Span) {
	st.mu[b].Lock()
	defer st.mu[b].Unlock()
	for len(spans) > 0 {
		n := len(st.slabs[b])
		if n == 0 || len(st.slabs[b][n-1]) == slabSize {
			st.slabs[b] = append(st.slabs[b], make([]model.Span, 0, slabSize))
			n++
		}
		last := st.slabs[b][n-1]
		k := min(slabSize-len(last), len(spans))
		st.slabs[b][n-1] = append(last, spans[:k]...)
		spans = spans[k:]
	}
}

// flushAt is how many spans a sink buffers per partition before moving them
// to the shared store.
const flushAt = 256

// input is one file, stream or live query to read.
type input struct {
	path       string // "-" for stdin
	name       string // for messages
	fromDir    bool   // found by walking a directory: non-trace files are skipped with a warning
	allowEmpty bool   // a live query: no spans means no traces matched, not an error

	// set while loading, under loader.mu
	idx     int
	format  string
	skipped string
}

// ExpandInputs turns arguments into files: "-" is stdin, directories are
// walked recursively (hidden entries skipped) and arguments with glob
// characters are expanded. A path that matches nothing is an error.
func ExpandInputs(args []string) ([]input, error) {
	var out []input
	seen := map[string]bool{}
	addFile := func(p string, fromDir bool) {
		if !seen[p] {
			seen[p] = true
			out = append(out, input{path: p, name: p, fromDir: fromDir})
		}
	}
	for _, a := range args {
		if a == "-" {
			out = append(out, input{path: "-", name: "stdin"})
			continue
		}
		paths := []string{a}
		if strings.ContainsAny(a, "*?[") {
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, fmt.Errorf("%s: bad pattern: %w", a, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%s: no files match", a)
			}
			paths = m
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, PathError(err))
			}
			if !st.IsDir() {
				addFile(p, false)
				continue
			}
			var files []string
			err = filepath.WalkDir(p, func(q string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if q != p && strings.HasPrefix(e.Name(), ".") {
					if e.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if e.Type().IsRegular() {
					files = append(files, q)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("reading directory %s: %w", p, err)
			}
			sort.Strings(files)
			for _, f := range files {
				addFile(f, true)
			}
		}
	}
	return out, nil
}

// job is one buffer to decode: a whole document, a batch of whole lines,
// or spans already decoded by a client library (emit).
type job struct {
	in       *input
	buf      []byte
	lineBase int        // line number of buf[0] in JSON Lines, or 0
	lineAt   func() int // or what finds it, when counting is put off until needed
	lineDone func(int)  // told the batch's newlines once it is decoded, with lineAt
	byteBase int64
	proto    bool              // an OTLP protobuf message rather than JSON
	emit     func(*sink) error // when set, called instead of decoding buf
	pool     *sync.Pool        // where buf goes back after decoding, if anywhere
	release  func([]byte)      // or what to call with buf after decoding (a mapped file)
}

// errShrank reports a mapped file that became shorter while it was read.
var errShrank = errors.New("the file became shorter while it was being read")

// chunkSize is the size of the line batches that are decoded in parallel.
const chunkSize = 1 << 20

// Load reads all inputs and returns the dataset. Files are decoded in
// parallel, line batches of one JSON Lines file too.
func Load(ctx context.Context, args []string, opt Options) (*model.Dataset, error) {
	inputs, err := ExpandInputs(args)
	if err != nil {
		return nil, err
	}
	return loadFiles(ctx, inputs, opt)
}

// LoadReader reads one stream, named name in messages.
func LoadReader(ctx context.Context, name string, r io.Reader, opt Options) (*model.Dataset, error) {
	opt.Stdin = r
	return loadFiles(ctx, []input{{path: "-", name: name}}, opt)
}

func loadFiles(ctx context.Context, inputs []input, opt Options) (*model.Dataset, error) {
	if len(inputs) == 0 {
		return nil, errors.New("no input files")
	}
	pool := &sync.Pool{}
	return run(ctx, opt, func(ctx context.Context, l *loader) error {
		for i := range inputs {
			in := &inputs[i]
			l.register(in)
			err := produce(ctx, in, opt.Stdin, l.send, pool)
			if err == nil {
				continue
			}
			if in.fromDir && errors.Is(err, errNotTrace) {
				l.skip(in, err.Error())
				continue
			}
			return err
		}
		return nil
	})
}

// loader runs the decoding workers for one load.
type loader struct {
	ctx    context.Context
	jobs   chan job
	mu     sync.Mutex
	inputs []*input
}

func (l *loader) register(in *input) {
	l.mu.Lock()
	in.idx = len(l.inputs)
	l.inputs = append(l.inputs, in)
	l.mu.Unlock()
}

func (l *loader) skip(in *input, why string) {
	l.mu.Lock()
	in.skipped = why
	l.mu.Unlock()
}

// send hands a job to the workers; false when the load was cancelled.
func (l *loader) send(j job) bool {
	select {
	case l.jobs <- j:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// run starts the workers, calls produce to feed them and assembles the
// dataset from what they decoded.
func run(ctx context.Context, opt Options, produce func(context.Context, *loader) error) (*model.Dataset, error) {
	keep := append([]string(nil), opt.Keep...)
	sort.Strings(keep)
	keep = compact(keep)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	cat := model.NewCatalog()
	st := &store{}
	l := &loader{ctx: ctx, jobs: make(chan job, workers)}
	go func() {
		defer close(l.jobs)
		if err := produce(ctx, l); err != nil {
			cancel(err)
		}
	}()

	sinks := make([]*sink, workers)
	var wg sync.WaitGroup
	for w := range sinks {
		sk := newSink(cat, keep)
		sinks[w] = sk
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := newDecoder(sk)
			for j := range l.jobs {
				if ctx.Err() != nil {
					if j.release != nil {
						j.release(j.buf)
					}
					continue // drain
				}
				var err error
				if j.release != nil {
					err = decodeMapped(d, sk, &j, st)
					if err == nil && j.lineDone != nil {
						j.lineDone(d.newlines) // before its pages go
					}
					j.release(j.buf)
				} else {
					err = decodeJob(d, sk, &j, st)
				}
				if j.pool != nil {
					j.pool.Put(j.buf[:0])
				}
				switch {
				case err == nil:
					l.mu.Lock()
					if j.in.format == "" {
						j.in.format = d.format
					}
					l.mu.Unlock()
				case j.in.fromDir && errors.Is(err, errNotTrace):
					l.skip(j.in, err.Error())
				default:
					cancel(err)
				}
			}
			sk.flush(st)
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}

	ds := model.NewDataset(cat, keep, st.slabs)
	spans := map[*input]int{}
	for _, sk := range sinks {
		ds.Links = append(ds.Links, sk.links...)
		for k, v := range sk.idText {
			ds.IDText[k] = v
		}
		ds.Warnings.Merge(&sk.warn)
		for in, n := range sk.inputSpans {
			spans[in] += n
		}
	}
	for _, in := range l.inputs {
		n := spans[in]
		switch {
		case n == 0 && in.skipped != "":
			ds.Warnings.Add(model.WarnSkippedFile, in.skipped)
			continue
		case n == 0 && in.fromDir:
			ds.Warnings.Add(model.WarnSkippedFile, in.name+": no spans in this file")
			continue
		case n == 0 && !in.allowEmpty:
			return nil, fmt.Errorf("%s: no spans found (the input holds %s data with no spans in it)", in.name, orUnknown(in.format))
		}
		ds.Inputs = append(ds.Inputs, model.Input{Name: in.name, Format: in.format, Spans: n})
		ds.Spans += n
	}
	if ds.Spans == 0 && !anyAllowEmpty(l.inputs) {
		return nil, errors.New("no spans found in any input")
	}
	return ds, nil
}

func anyAllowEmpty(ins []*input) bool {
	for _, in := range ins {
		if in.allowEmpty {
			return true
		}
	}
	return false
}

func orUnknown(s string) string {
	if s == "" {
		return "trace"
	}
	return s
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if v != "" && (i == 0 || v != s[i-1]) {
			out = append(out, v)
		}
	}
	return out
}

// decodeMapped is decodeJob on a mapped file's pages, where a file cut
// short makes the missing pages fault: that becomes an error, not a crash.
func decodeMapped(d *decoder, sk *sink, j *job, st *store) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			err = fmt.Errorf("%s: %w", j.in.name, errShrank)
		}
	}()
	return decodeJob(d, sk, j, st)
}

func decodeJob(d *decoder, sk *sink, j *job, st *store) error {
	sk.file, sk.fileIdx, sk.lineBase, sk.lineAt, sk.byteBase = j.in.name, j.in.idx, j.lineBase, j.lineAt, j.byteBase
	sk.spans = 0
	var err error
	if j.emit != nil {
		err = j.emit(sk)
	} else if j.proto {
		d.format = "otlp-proto"
		err = decodeProto(sk, j.buf)
	} else {
		err = d.decodeAll(j.buf)
	}
	sk.inputSpans[j.in] += sk.spans
	sk.buf = nil
	sk.maybeFlush(st)
	return err
}

func (sk *sink) maybeFlush(st *store) {
	for b := range sk.buckets {
		if len(sk.buckets[b]) >= flushAt {
			st.add(b, sk.buckets[b])
			sk.buckets[b] = sk.buckets[b][:0]
		}
	}
}

func (sk *sink) flush(st *store) {
	for b := range sk.buckets {
		if len(sk.buckets[b]) > 0 {
			st.add(b, sk.buckets[b])
			sk.buckets[b] = nil
		}
	}
}

// zstdLimits keep a hostile frame header from asking for gigabytes.
var zstdLimits = []zstd.DOption{
	zstd.WithDecoderConcurrency(1),
	zstd.WithDecoderMaxWindow(128 << 20),
	zstd.WithDecoderMaxMemory(1 << 30),
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	utf8BOM   = []byte{0xef, 0xbb, 0xbf}
)

// produce opens one input, undoes its compression and sends its jobs.
func produce(ctx context.Context, in *input, stdin io.Reader, send func(job) bool, pool *sync.Pool) error {
	var r io.Reader
	var sizeHint int64 // the file's size, to read a whole document without regrowing
	if in.path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		r = stdin
	} else {
		f, err := os.Open(in.path)
		if err != nil {
			return fmt.Errorf("%s: %w", in.name, PathError(err))
		}
		defer f.Close()
		r = f
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			sizeHint = st.Size()
			if handled, err := produceMapped(in, f, sizeHint, send); handled {
				return err
			}
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for range 3 { // a gzipped zstd file is odd but cheap to allow
		head, _ := br.Peek(8)
		switch {
		case bytes.HasPrefix(head, gzipMagic):
			zr, err := gzip.NewReader(br)
			if err != nil {
				return fmt.Errorf("%s: reading gzip: %w", in.name, err)
			}
			defer zr.Close()
			br = bufio.NewReaderSize(zr, 64<<10)
			sizeHint = 0
			continue
		case bytes.HasPrefix(head, zstdMagic):
			zr, err := zstd.NewReader(br, zstdLimits...)
			if err != nil {
				return fmt.Errorf("%s: reading zstd: %w", in.name, err)
			}
			defer zr.Close()
			br = bufio.NewReaderSize(zr.IOReadCloser(), 64<<10)
			sizeHint = 0
			continue
		case len(head) >= 5 && isRecordStart(head):
			return produceRecords(in, br, send)
		}
		break
	}
	// A saved Tempo (or OTLP) protobuf answer: no length prefix, no magic.
	if head, _ := br.Peek(tracesProtoPeek); isTracesProto(head) {
		return produceTracesProto(in, br, send, sizeHint)
	}
	head, err := br.Peek(3)
	if bytes.Equal(head, utf8BOM) {
		br.Discard(3)
	}
	first, err := peekNonSpace(br)
	if err != nil {
		if err == io.EOF {
			if in.fromDir {
				return fmt.Errorf("%s: %w: the file is empty", in.name, errNotTrace)
			}
			return fmt.Errorf("%s: the file is empty", in.name)
		}
		return fmt.Errorf("%s: %w", in.name, err)
	}
	if first != '{' && first != '[' {
		err := fmt.Errorf("%s: not a trace file: it starts with %s, not a JSON object or array", in.name, describeByte(first))
		if in.fromDir {
			return fmt.Errorf("%w (%w)", err, errNotTrace)
		}
		return err
	}
	return produceJSON(in, br, send, pool, sizeHint)
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\n', '\r', '\t':
			continue
		}
		return c, br.UnreadByte()
	}
}

// isRecordStart recognises the Collector file exporter's length-prefixed
// records: a 4-byte big-endian length, then a zstd frame, a protobuf
// TracesData (field 1, length-delimited) or a JSON object.
func isRecordStart(head []byte) bool {
	// Whitespace or '{' in the first byte makes a length over 64 MB, so JSON
	// is never mistaken for a record.
	n := binary.BigEndian.Uint32(head)
	if n == 0 || n > maxRecord {
		return false
	}
	rest := head[4:]
	return bytes.HasPrefix(rest, zstdMagic) || rest[0] == 0x0a
}

// maxRecord caps one length-prefixed record.
const maxRecord = 1 << 26

// produceRecords reads length-prefixed records; each is one job.
func produceRecords(in *input, br *bufio.Reader, send func(job) bool) error {
	var dec *zstd.Decoder
	var off int64
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%s: byte %d: truncated record header", in.name, off)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxRecord {
			return fmt.Errorf("%s: byte %d: record length %d is not plausible", in.name, off, n)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(br, rec); err != nil {
			return fmt.Errorf("%s: byte %d: record of %d bytes is truncated", in.name, off, n)
		}
		at := off
		off += 4 + int64(n)
		if bytes.HasPrefix(rec, zstdMagic) {
			if dec == nil {
				var err error
				if dec, err = zstd.NewReader(nil, zstdLimits...); err != nil {
					return err
				}
				defer dec.Close()
			}
			out, err := dec.DecodeAll(rec, nil)
			if err != nil {
				return fmt.Errorf("%s: byte %d: record does not decompress: %w", in.name, at, err)
			}
			rec = out
		}
		if !send(job{in: in, buf: rec, byteBase: at, proto: len(rec) > 0 && rec[0] != '{'}) {
			return nil
		}
	}
}

// produceJSON decides between JSON Lines and one document. When the first
// line is a complete JSON value the input is JSON Lines and is cut into
// batches of whole lines; otherwise it is read whole as one document.
func produceJSON(in *input, br *bufio.Reader, send func(job) bool, pool *sync.Pool, sizeHint int64) error {
	getBuf := func() []byte {
		if b, ok := pool.Get().([]byte); ok {
			return b[:0]
		}
		return make([]byte, 0, chunkSize)
	}

	buf := getBuf()
	buf, err := fill(br, buf)
	if err != nil && err != io.EOF {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	eof := err == io.EOF
	if !firstLineComplete(buf) {
		// One document: read it whole, into a buffer of the file's size
		// when that is known.
		doc := buf
		if want := int(sizeHint) + 1; want > cap(doc) {
			doc = make([]byte, len(buf), want)
			copy(doc, buf)
		}
		for !eof {
			if len(doc) == cap(doc) {
				doc = append(doc, 0)[:len(doc)]
			}
			n, err := br.Read(doc[len(doc):cap(doc)])
			doc = doc[:len(doc)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", in.name, err)
			}
		}
		send(job{in: in, buf: doc})
		return nil
	}
	line := 1
	var off int64
	for {
		cut := len(buf)
		if !eof {
			cut = bytes.LastIndexByte(buf, '\n') + 1
		}
		if cut == 0 {
			// A line longer than the buffer: grow it.
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
			var err error
			buf, err = fill(br, buf)
			if err != nil && err != io.EOF {
				return fmt.Errorf("%s: %w", in.name, err)
			}
			eof = err == io.EOF
			continue
		}
		next := getBuf()
		next = append(next, buf[cut:]...)
		chunk := buf[:cut]
		if !send(job{in: in, buf: chunk, lineBase: line, byteBase: off, pool: pool}) {
			return nil
		}
		line += bytes.Count(chunk, []byte{'\n'})
		off += int64(cut)
		if eof && len(next) == 0 {
			return nil
		}
		buf = next
		var err error
		buf, err = fill(br, buf)
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", in.name, err)
		}
		eof = err == io.EOF
	}
}

// fill reads into the free capacity of buf until it is full or the input ends.
func fill(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < chunkSize {
		nb := make([]byte, len(buf), chunkSize)
		copy(nb, buf)
		buf = nb
	}
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// firstLineComplete reports whether the first line of buf holds one whole
// JSON value, which is what tells JSON Lines from a pretty-printed document.
func firstLineComplete(buf []byte) bool {
	nl := bytes.IndexByte(buf, '\n')
	if nl < 0 {
		nl = len(buf)
	}
	s := scanner{buf: buf[:nl]}
	s.skip()
	if s.err != nil {
		return false
	}
	s.ws()
	return s.pos == nl
}
