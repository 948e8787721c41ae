package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

// bigJSONL writes generated traffic of at least mapMin bytes, the size the
// mapped path starts at.
func bigJSONL(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: 2500, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() < mapMin {
		t.Fatalf("%d bytes generated, fewer than the %d the mapped path needs", buf.Len(), mapMin)
	}
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// summary is what a load must agree on, with shapes resolved to their
// names and values (shape numbers depend on which worker saw one first),
// read from every span so that a pointer into an unmapped file would fault
// here.
func summary(ds *model.Dataset) (int, []string, []string) {
	ops, shapes := ds.Catalog.Ops(), ds.Catalog.Shapes()
	var spans []string
	for _, s := range allSpans(ds) {
		sh := shapes[s.Shape]
		s.Shape = 0
		text := fmt.Sprintf("%+v %s/%s %v", s, ops[sh.Op].Service, ops[sh.Op].Name, sh.Kind)
		for _, a := range sh.Attrs {
			text += " " + a.Key + "=" + a.Value
		}
		spans = append(spans, text)
	}
	var warn []string
	for _, w := range ds.Warnings.List() {
		warn = append(warn, w.Kind+": "+w.Example)
	}
	return ds.Spans, spans, warn
}

// TestMappedMatchesRead loads the same bytes from a file (mapped) and from
// a stream (read): JSON Lines with a bad span, and one large document.
func TestMappedMatchesRead(t *testing.T) {
	lines := bigJSONL(t)
	// A span with no end time in the middle of the file, for a warning with
	// a line and byte to compare.
	mid := bytes.IndexByte(lines[len(lines)/2:], '\n') + len(lines)/2 + 1
	bad := otlpDoc("gw", otlpSpan(tid, sidRoot, "", "broken", 5, 0, "")) + "\n"
	bad = strings.Replace(bad, `,"endTimeUnixNano":"0"`, "", 1)
	lines = append(lines[:mid:mid], append([]byte(bad), lines[mid:]...)...)

	doc := []byte("\ufeff{\"resourceSpans\":\n[")
	for i, line := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
		rs := line[len(`{"resourceSpans":[`) : len(line)-len(`]}`)]
		if i > 0 {
			doc = append(doc, ",\n"...)
		}
		doc = append(doc, rs...)
	}
	doc = append(doc, "]}\n"...)

	keep := Options{Keep: []string{"prompt.version"}}
	for name, data := range map[string][]byte{"lines.jsonl": lines, "doc.json": doc} {
		path := writeTemp(t, name, data)
		before := mappedFiles.Load()
		mapped, err := Load(context.Background(), []string{path}, keep)
		if err != nil {
			t.Fatalf("%s mapped: %v", name, err)
		}
		if mappedFiles.Load() != before+1 {
			t.Fatalf("%s was not read through a mapping", name)
		}
		read, err := LoadReader(context.Background(), path, bytes.NewReader(data), keep)
		if err != nil {
			t.Fatalf("%s read: %v", name, err)
		}
		n1, s1, w1 := summary(mapped)
		n2, s2, w2 := summary(read)
		if n1 != n2 || !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(w1, w2) {
			t.Errorf("%s: mapped and read differ: %d and %d spans, warnings %q and %q", name, n1, n2, w1, w2)
		}
		if name == "lines.jsonl" && (len(w1) != 1 || !strings.Contains(w1[0], "line ")) {
			t.Errorf("%s: warnings %q, want the span without an end time, by line", name, w1)
		}
	}
}

// TestMappedSyntaxErrorPlace checks that a broken line deep in a mapped
// file is reported at the same line and byte as when read.
func TestMappedSyntaxErrorPlace(t *testing.T) {
	lines := bigJSONL(t)
	at := bytes.LastIndexByte(lines[:len(lines)*3/4], '\n') + 1
	broken := append(append(lines[:at:at], `{"resourceSpans":[{"scopeSpans":[}`+"\n"...), lines[at:]...)
	path := writeTemp(t, "broken.jsonl", broken)
	_, errMapped := Load(context.Background(), []string{path}, Options{})
	_, errRead := LoadReader(context.Background(), path, bytes.NewReader(broken), Options{})
	if errMapped == nil || errRead == nil || errMapped.Error() != errRead.Error() {
		t.Fatalf("mapped: %v\nread:   %v", errMapped, errRead)
	}
	if want := bytes.Count(broken[:at], []byte("\n")) + 1; !strings.Contains(errMapped.Error(), "line "+itoa(want)) {
		t.Errorf("error %q does not name line %d", errMapped, want)
	}
}

// TestMappedFileShrinks cuts a mapped file short while its chunks are being
// decoded: the load fails with a clear error instead of crashing.
func TestMappedFileShrinks(t *testing.T) {
	path := writeTemp(t, "shrinks.jsonl", bigJSONL(t))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	d := newDecoder(newSink(model.NewCatalog(), nil))
	var decodeErr error
	in := &input{name: path}
	handled, err := produceMapped(in, f, st.Size(), func(j job) bool {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		decodeErr = decodeMapped(d, d.sk, &j, &store{})
		j.release(j.buf)
		return false
	})
	if !handled || err != nil {
		t.Fatalf("produceMapped: handled %v, %v", handled, err)
	}
	if !errors.Is(decodeErr, errShrank) || !strings.Contains(decodeErr.Error(), path) {
		t.Errorf("decoding a truncated mapping: %v", decodeErr)
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestLineIndex asks for chunk starts out of order and checks each against
// a count from the beginning.
func TestLineIndex(t *testing.T) {
	data := bigJSONL(t)[:3<<20]
	x := &lineIndex{data: data}
	var offs []int
	for off := 0; off < len(data); off += 100_003 {
		offs = append(offs, off)
		x.add(off)
	}
	for _, k := range []int{7, 3, 20, 0, 29, 29, 1} {
		if want := bytes.Count(data[:offs[k]], []byte("\n")) + 1; x.at(k) != want {
			t.Errorf("chunk %d: line %d, want %d", k, x.at(k), want)
		}
	}
}

// TestLineIndexUsesReportedCounts checks that chunks whose decoders
// reported their newlines are not read again (their pages may have been
// dropped): a reported count wins over what the bytes say.
func TestLineIndexUsesReportedCounts(t *testing.T) {
	data := []byte("a\nb\nc\nd\ne\nf\n")
	x := &lineIndex{data: data}
	for _, off := range []int{0, 4, 8} {
		x.add(off)
	}
	x.done(0, 100) // a stand-in that could not come from the bytes
	if got := x.at(2); got != 1+100+2 {
		t.Errorf("line at chunk 2 = %d, want %d", got, 1+100+2)
	}
}
