package sources

import (
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// mapMin is the smallest file read through a memory mapping; below it the
// mapping costs more than the copy it saves.
const mapMin = 8 << 20

// madvPopulateRead (Linux 5.14) maps a range's pages in one call instead of
// one fault at a time; older kernels refuse it and the faults happen anyway.
const madvPopulateRead = 22

// produceMapped reads an uncompressed JSON file through a read-only memory
// mapping: the decoders work on the mapped pages themselves, which saves
// copying every byte out of the page cache. Each chunk's pages are dropped
// from the mapping once it is decoded, so the mapping costs a few
// megabytes of memory, not the file's size. It reports false, having sent
// nothing, for files it leaves to the reading path (small, compressed,
// records, protobuf, or not starting like JSON).
func produceMapped(in *input, f *os.File, size int64, send func(job) bool) (bool, error) {
	if size < mapMin || int64(int(size)) != size {
		return false, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return false, nil
	}
	m := &mapping{data: data}
	m.refs.Store(1)
	defer m.release(nil) // the producer's reference

	// A file cut short while mapped makes its missing pages fault: that
	// becomes an error instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	handled, err := m.produce(in, send)
	if handled {
		mappedFiles.Add(1)
	}
	return handled, err
}

// mappedFiles counts the files read through a mapping, for tests.
var mappedFiles atomic.Int64

type mapping struct {
	data []byte
	refs atomic.Int64
}

// pages returns the part of the mapping holding chunk's pages: the pages
// inside it only, or also those it shares with its neighbours.
func (m *mapping) pages(chunk []byte, shared bool) []byte {
	page := os.Getpagesize()
	at := int(uintptr(unsafe.Pointer(unsafe.SliceData(chunk))) - uintptr(unsafe.Pointer(unsafe.SliceData(m.data))))
	from, to := at&^(page-1), (at+len(chunk)+page-1)&^(page-1)
	if !shared {
		from, to = (at+page-1)&^(page-1), (at+len(chunk))&^(page-1)
	}
	if to > len(m.data) {
		to = len(m.data) // the last page is mapped whole
	}
	if to <= from {
		return nil
	}
	return m.data[from:to]
}

// release drops a decoded chunk's pages from the mapping (those it shares
// with a neighbour stay) and the reference its job held; the last
// reference unmaps the file.
func (m *mapping) release(chunk []byte) {
	if p := m.pages(chunk, false); len(p) > 0 {
		_ = syscall.Madvise(p, syscall.MADV_DONTNEED)
	}
	if m.refs.Add(-1) == 0 {
		_ = syscall.Munmap(m.data)
	}
}

func (m *mapping) produce(in *input, send func(job) bool) (handled bool, err error) {
	data := m.data
	head := data[:min(len(data), tracesProtoPeek)]
	if bytes.HasPrefix(head, gzipMagic) || bytes.HasPrefix(head, zstdMagic) ||
		len(head) >= 5 && isRecordStart(head) || isTracesProto(head) {
		return false, nil
	}
	start := 0
	if bytes.HasPrefix(data, utf8BOM) {
		start = len(utf8BOM)
	}
	body := data[start:]
	if i := bytes.IndexFunc(body[:min(len(body), 4096)], func(r rune) bool {
		return r != ' ' && r != '\n' && r != '\r' && r != '\t'
	}); i < 0 || body[i] != '{' && body[i] != '[' {
		return false, nil // the reading path says what is wrong
	}
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			handled, err = true, fmt.Errorf("%s: %w", in.name, errShrank)
		}
	}()
	sendChunk := func(chunk []byte, lineAt func() int, lineDone func(int), off int64) bool {
		if p := m.pages(chunk, true); len(p) > 0 {
			_ = syscall.Madvise(p, madvPopulateRead)
		}
		m.refs.Add(1)
		if !send(job{in: in, buf: chunk, lineAt: lineAt, lineDone: lineDone, byteBase: off, release: m.release}) {
			m.release(nil)
			return false
		}
		return true
	}
	if !firstLineComplete(body[:min(len(body), chunkSize)]) {
		sendChunk(body, nil, nil, 0) // one document
		return true, nil
	}
	// Line numbers are only needed for messages: the chunks' first lines are
	// counted when one is asked for, not before.
	lines := &lineIndex{data: body}
	for off := 0; off < len(body); {
		end := min(off+chunkSize, len(body))
		cut := len(body) - off
		if end < len(body) {
			cut = bytes.LastIndexByte(body[off:end], '\n') + 1
			if cut == 0 { // a line longer than a chunk
				nl := bytes.IndexByte(body[end:], '\n')
				cut = len(body) - off
				if nl >= 0 {
					cut = end - off + nl + 1
				}
			}
		}
		k := lines.add(off)
		lineAt := func() int { return lines.at(k) }
		lineDone := func(n int) { lines.done(k, n) }
		if !sendChunk(body[off:off+cut], lineAt, lineDone, int64(off)) {
			return true, nil
		}
		off += cut
	}
	return true, nil
}

// lineIndex finds the line numbers at chunk starts on demand. Decoders
// report each chunk's newlines before its pages are dropped, so a message
// never makes a dropped chunk's pages come back; the few chunks not yet
// reported are still mapped, and are counted here.
type lineIndex struct {
	mu     sync.Mutex
	data   []byte
	offs   []int // chunk starts
	counts []int // newlines per chunk, -1 until known
	lines  []int // line numbers at the first len(lines) chunk starts
}

// add records the next chunk's start and returns its index.
func (x *lineIndex) add(off int) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.offs = append(x.offs, off)
	x.counts = append(x.counts, -1)
	return len(x.offs) - 1
}

// done records chunk k's newlines.
func (x *lineIndex) done(k, n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.counts[k] = n
}

// at returns the line number at chunk k's start.
func (x *lineIndex) at(k int) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	for len(x.lines) <= k {
		i := len(x.lines)
		if i == 0 {
			x.lines = append(x.lines, 1)
			continue
		}
		n := x.counts[i-1]
		if n < 0 {
			n = bytes.Count(x.data[x.offs[i-1]:x.offs[i]], []byte{'\n'})
			x.counts[i-1] = n
		}
		x.lines = append(x.lines, x.lines[i-1]+n)
	}
	return x.lines[k]
}
