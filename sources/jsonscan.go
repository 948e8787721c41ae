package sources

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/trace-forensics/trace-forensics/model"
)

// scanner is a pull tokenizer over one JSON text held in memory. The trace
// readers walk the shapes they know with it and skip everything else without
// building values, which is where their speed comes from: a prompt stored in
// an attribute costs one memchr, not a decoded string.
//
// After the first syntax error every method is a no-op and err holds the
// error with its byte offset.
type scanner struct {
	buf     []byte
	pos     int
	err     error
	errPos  int
	scratch []byte // unescaped string content; valid until the next str call
}

func (s *scanner) reset(buf []byte) {
	s.buf, s.pos, s.err, s.errPos = buf, 0, nil, 0
}

// failf records a syntax error at the current offset and stops the scan.
func (s *scanner) failf(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
		s.errPos = s.pos
	}
	s.pos = len(s.buf)
}

func (s *scanner) ws() {
	// Minified JSON has no whitespace: one compare in the common case.
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		return
	}
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\n', '\r', '\t':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.buf) {
		return 0
	}
	return s.buf[s.pos]
}

func (s *scanner) eof() bool { return s.peek() == 0 && s.pos >= len(s.buf) }

func (s *scanner) unexpected(what string) {
	if s.pos >= len(s.buf) {
		s.failf("unexpected end of input, expected %s (truncated file?)", what)
		return
	}
	c := s.buf[s.pos]
	if c < 0x20 || c >= 0x7f {
		s.failf("expected %s, found byte 0x%02x", what, c)
	} else {
		s.failf("expected %s, found %q", what, c)
	}
}

// enter consumes the opening byte of an object or array.
func (s *scanner) enter(open byte) bool {
	if s.peek() != open {
		if open == '{' {
			s.unexpected("an object")
		} else {
			s.unexpected("an array")
		}
		return false
	}
	s.pos++
	return true
}

// more advances to the next element of the object or array being read and
// reports whether there is one. Use as
//
//	for first := true; s.more('}', &first); { key := s.key(); ... }
func (s *scanner) more(close byte, first *bool) bool {
	// The usual case, with no whitespace, small enough to inline.
	if i := s.pos; i < len(s.buf) && s.buf[i] > ' ' {
		switch c := s.buf[i]; {
		case c == close:
			s.pos = i + 1
			return false
		case *first:
			*first = false
			return true
		case c == ',':
			s.pos = i + 1
			return true
		}
	}
	return s.moreSlow(close, first)
}

func (s *scanner) moreSlow(close byte, first *bool) bool {
	c := s.peek()
	if c == close {
		s.pos++
		return false
	}
	if s.pos >= len(s.buf) {
		s.unexpected(fmt.Sprintf("',' or '%c'", close))
		return false
	}
	if *first {
		*first = false
		return true
	}
	if c != ',' {
		s.unexpected(fmt.Sprintf("',' or '%c'", close))
		return false
	}
	s.pos++
	return true
}

// key reads an object key and the colon after it.
func (s *scanner) key() []byte {
	k := s.str()
	if s.pos < len(s.buf) && s.buf[s.pos] == ':' {
		s.pos++
		return k
	}
	if s.peek() != ':' {
		s.unexpected("':'")
		return nil
	}
	s.pos++
	return k
}

// str reads a string and returns its content, unescaped. The slice aliases
// the input or the scanner's scratch buffer: copy it to keep it.
func (s *scanner) str() []byte {
	if !(s.pos < len(s.buf) && s.buf[s.pos] == '"') && s.peek() != '"' {
		s.unexpected("a string")
		return nil
	}
	start := s.pos + 1
	end, escaped := s.strEnd(start)
	if end < 0 {
		s.pos = len(s.buf)
		s.unexpected("the end of a string")
		return nil
	}
	s.pos = end + 1
	if !escaped {
		return s.buf[start:end]
	}
	out, ok := unescape(s.scratch[:0], s.buf[start:end])
	if !ok {
		s.pos = start
		s.failf("invalid escape in string")
		return nil
	}
	s.scratch = out
	return out
}

// strEnd finds the closing quote of a string whose content starts at i and
// reports whether the content holds escapes; -1 if the input ends first.
// It looks at eight bytes at a time for a quote or a backslash.
func (s *scanner) strEnd(i int) (int, bool) {
	buf := s.buf
	escaped := false
	for {
		for i+8 <= len(buf) {
			w := binary.LittleEndian.Uint64(buf[i:])
			m := hasZeroByte(w^quotes) | hasZeroByte(w^backslashes)
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(buf) && buf[i] != '"' && buf[i] != '\\' {
			i++
		}
		if i >= len(buf) {
			return -1, escaped
		}
		if buf[i] == '"' {
			return i, escaped
		}
		// A backslash escapes the next byte, whatever it is.
		escaped = true
		i += 2
	}
}

const (
	quotes      = 0x2222222222222222
	backslashes = 0x5c5c5c5c5c5c5c5c
	lows        = 0x0101010101010101
	highs       = 0x8080808080808080
)

// hasZeroByte sets the high bit of the result's byte for a zero byte of w;
// the lowest set bit is exact (higher ones may be false alarms), which is
// all strEnd uses.
func hasZeroByte(w uint64) uint64 { return (w - lows) & ^w & highs }

// structural marks the bytes skip must look at; everything else is passed over.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skip passes over one value of any kind without building it. Nested values
// are skipped with a depth counter, not recursion, so deeply nested input
// cannot exhaust the stack.
func (s *scanner) skip() {
	switch c := s.peek(); c {
	case '"':
		end, _ := s.strEnd(s.pos + 1)
		if end < 0 {
			s.pos = len(s.buf)
			s.unexpected("the end of a string")
			return
		}
		s.pos = end + 1
	case '{', '[':
		s.skipNested()
	case 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		start := s.pos
		for s.pos < len(s.buf) {
			c := s.buf[s.pos]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t' {
				break
			}
			s.pos++
		}
		if !validScalar(s.buf[start:s.pos]) {
			s.pos = start
			s.unexpected("a value")
		}
	default:
		s.unexpected("a value")
	}
}

// skipAnyValue skips an OTLP AnyValue, with a fast path for the common
// {"stringValue":"…"} form.
func (s *scanner) skipAnyValue() {
	const sv = `{"stringValue":"`
	if i := s.pos; i+len(sv) <= len(s.buf) && string(s.buf[i:i+len(sv)]) == sv {
		end, _ := s.strEnd(i + len(sv))
		if end >= 0 && end+1 < len(s.buf) && s.buf[end+1] == '}' {
			s.pos = end + 2
			return
		}
	}
	s.skip()
}

func (s *scanner) skipNested() {
	depth := 0
	buf := s.buf
	i := s.pos
	for i < len(buf) {
		c := buf[i]
		if !structural[c] {
			i++
			continue
		}
		switch c {
		case '"':
			end, _ := s.strEnd(i + 1)
			if end < 0 {
				s.pos = len(buf)
				s.unexpected("the end of a string")
				return
			}
			i = end + 1
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.pos = i + 1
				return
			}
		}
		i++
	}
	s.pos = len(buf)
	s.unexpected("the end of an object or array")
}

func validScalar(b []byte) bool {
	if len(b) > 0 && len(b) < 20 && allDigits(b) {
		return true
	}
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	if len(b) == 0 {
		return false
	}
	_, err := strconv.ParseFloat(string(b), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// raw skips one value and returns its bytes as written.
func (s *scanner) raw() []byte {
	s.ws()
	start := s.pos
	s.skip()
	if s.err != nil {
		return nil
	}
	return s.buf[start:s.pos]
}

// isNull consumes a null literal if one is next.
func (s *scanner) isNull() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.buf[s.pos:], []byte("null")) {
		s.pos += 4
		return true
	}
	return false
}

// errBadNumber reports a number that is not an integer in range. It is a
// semantic error (the span is skipped), not a syntax error.
var errBadNumber = errors.New("not an integer in range")

// int64Value reads an integer written as a number or as a decimal string (the
// OTLP/JSON form of 64-bit fields). Syntax errors stop the scan; a value that
// is well-formed but not an integer in range returns errBadNumber.
func (s *scanner) int64Value() (int64, error) {
	var text []byte
	switch s.peek() {
	case '"':
		text = s.str()
	default:
		text = s.raw()
	}
	if s.err != nil {
		return 0, s.err
	}
	return parseInt(text)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseInt(text []byte) (int64, error) {
	// Fast path: up to 19 plain decimal digits (unix nanoseconds have 19).
	if n := len(text); n > 0 && n <= 19 && allDigits(text) {
		var v uint64
		for _, c := range text {
			v = v*10 + uint64(c-'0')
		}
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return 0, errBadNumber
	}
	if v, err := strconv.ParseInt(string(text), 10, 64); err == nil {
		return v, nil
	}
	// Some producers write 1.7e18 or 12.0; accept exact integral floats.
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, errBadNumber
	}
	return int64(f), nil
}

// unescape appends the unescaped form of a JSON string's content to dst.
func unescape(dst, src []byte) ([]byte, bool) {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(src) {
			return dst, false
		}
		switch src[i] {
		case '"', '\\', '/':
			dst = append(dst, src[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+4 >= len(src) {
				return dst, false
			}
			r, ok := hex4(src[i+1 : i+5])
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(src) && src[i+1] == '\\' && src[i+2] == 'u' {
				if r2, ok := hex4(src[i+3 : i+7]); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// hexString decodes a string of exactly 2*len(dst) hex digits, the way
// OTLP/JSON writes IDs, without searching for its end: hex digits contain no
// quote or backslash, so a quote right after them ends the string. It
// consumes nothing and reports false for anything else.
func (s *scanner) hexString(dst []byte) bool {
	n := 2 * len(dst)
	i := s.pos
	if i+n+1 >= len(s.buf) || s.buf[i] != '"' || s.buf[i+n+1] != '"' {
		return false
	}
	if !decodeHexID(dst, s.buf[i+1:i+1+n]) {
		return false
	}
	s.pos = i + n + 2
	return true
}

// hexSpanID is hexString for the usual 16-digit span ID, decoded straight
// into its number.
func (s *scanner) hexSpanID() (model.SpanID, bool) {
	i := s.pos
	if i+17 >= len(s.buf) || s.buf[i] != '"' || s.buf[i+17] != '"' {
		return 0, false
	}
	b := s.buf[i+1 : i+17]
	hi, ok1 := hex8(binary.LittleEndian.Uint64(b))
	lo, ok2 := hex8(binary.LittleEndian.Uint64(b[8:]))
	if !ok1 || !ok2 {
		return 0, false
	}
	s.pos = i + 18
	// hex8 gives the bytes in the order written; the ID is big-endian.
	return model.SpanID(bits.ReverseBytes64(uint64(lo)<<32 | uint64(hi))), true
}

// hexTraceID is hexString for a 32-digit trace ID.
func (s *scanner) hexTraceID(dst *model.TraceID) bool {
	i := s.pos
	if i+33 >= len(s.buf) || s.buf[i] != '"' || s.buf[i+33] != '"' {
		return false
	}
	b := s.buf[i+1 : i+33]
	w0, ok0 := hex8(binary.LittleEndian.Uint64(b))
	w1, ok1 := hex8(binary.LittleEndian.Uint64(b[8:]))
	w2, ok2 := hex8(binary.LittleEndian.Uint64(b[16:]))
	w3, ok3 := hex8(binary.LittleEndian.Uint64(b[24:]))
	if !ok0 || !ok1 || !ok2 || !ok3 {
		return false
	}
	binary.LittleEndian.PutUint64(dst[:8], uint64(w0)|uint64(w1)<<32)
	binary.LittleEndian.PutUint64(dst[8:], uint64(w2)|uint64(w3)<<32)
	s.pos = i + 34
	return true
}

// nanosString reads a 19-digit decimal string, the form of every Unix
// nanosecond timestamp from 2001 to 2286, eight digits at a time. It
// consumes nothing and reports false for anything else.
func (s *scanner) nanosString() (int64, bool) {
	i := s.pos
	if i+20 >= len(s.buf) || s.buf[i] != '"' || s.buf[i+20] != '"' {
		return 0, false
	}
	d := s.buf[i+1 : i+20]
	a, ok1 := eightDigits(d[0:8])
	b, ok2 := eightDigits(d[8:16])
	c0, c1, c2 := d[16]-'0', d[17]-'0', d[18]-'0'
	if !ok1 || !ok2 || c0 > 9 || c1 > 9 || c2 > 9 {
		return 0, false
	}
	v := a*100_000_000_000 + b*1000 + uint64(c0)*100 + uint64(c1)*10 + uint64(c2)
	if v > math.MaxInt64 {
		return 0, false
	}
	s.pos = i + 21
	return int64(v), true
}

// eightDigits parses eight ASCII digits at once (the SWAR method simdjson
// uses), reporting false if any byte is not a digit.
func eightDigits(b []byte) (uint64, bool) {
	v := binary.LittleEndian.Uint64(b)
	if (v&0xF0F0F0F0F0F0F0F0)|(((v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4) != 0x3333333333333333 {
		return 0, false
	}
	v -= 0x3030303030303030
	v = v*10 + v>>8
	v = ((v&0x000000FF000000FF)*(100+1000000<<32) + (v>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return v, true
}

// keyTable lists the keys of an object, so the next key can be recognised
// by comparing a few machine words with its quoted form instead of scanning
// it. Each entry may have aliases (the snake_case spellings of the protobuf
// JSON mapping) that are found the slow way and answer the same index.
type keyTable struct {
	lits    []keyLit
	names   [][]byte
	aliases map[string]int
}

// keyLit is `"name":` as three masked eight-byte words, so a key of up to
// 24 bytes is recognised with three loads and compares. Longer keys are
// never recognised in place: keyFromSlow reads them.
type keyLit struct {
	n    int
	w, m [3]uint64
}

// newKeyTable builds a table from names, each written "name" or
// "name|alias|…".
func newKeyTable(names ...string) *keyTable {
	t := &keyTable{aliases: map[string]int{}}
	for i, spelling := range names {
		name, rest, _ := strings.Cut(spelling, "|")
		for alias := range strings.SplitSeq(rest, "|") {
			if alias != "" {
				t.aliases[alias] = i
			}
		}
		lit := `"` + name + `":`
		k := keyLit{n: len(lit)}
		if len(lit) > len(k.w)*8 {
			k.m[0] = 0xff // and w[0] is 0, never a quote
		} else {
			var word [24]byte
			copy(word[:], lit)
			for j := range k.w {
				k.w[j] = binary.LittleEndian.Uint64(word[8*j:])
				for b := 8 * j; b < 8*j+8 && b < len(lit); b++ {
					k.m[j] |= 0xff << (8 * (b - 8*j))
				}
			}
		}
		t.lits = append(t.lits, k)
		t.names = append(t.names, []byte(name))
	}
	return t
}

// at reports whether buf holds the literal at i. It may say no for a key
// it holds near the end of buf, where a caller reads the key instead.
func (k *keyLit) at(buf []byte, i int) bool {
	if uint(i)+24 > uint(len(buf)) {
		return false
	}
	b := buf[i : i+24]
	return binary.LittleEndian.Uint64(b)&k.m[0] == k.w[0] &&
		binary.LittleEndian.Uint64(b[8:])&k.m[1] == k.w[1] &&
		binary.LittleEndian.Uint64(b[16:])&k.m[2] == k.w[2]
}

// keyFrom reads the next key and returns its index in t, or -1 for a key
// not in it. guess is the index expected (producers write keys in a fixed
// order, so callers pass the one that followed last time); it and the two
// after it are compared in place before the key is scanned.
func (s *scanner) keyFrom(t *keyTable, guess int) int {
	if guess < len(t.lits) && t.lits[guess].at(s.buf, s.pos) {
		s.pos += t.lits[guess].n
		return guess
	}
	return s.keyFromSlow(t, guess)
}

// keyFromSlow is keyFrom after its first guess missed; apart so that the
// common case inlines.
func (s *scanner) keyFromSlow(t *keyTable, guess int) int {
	for i := guess + 1; i < len(t.lits) && i < guess+3; i++ {
		if t.lits[i].at(s.buf, s.pos) {
			s.pos += t.lits[i].n
			return i
		}
	}
	k := s.key()
	for j, n := range t.names {
		if string(n) == string(k) {
			return j
		}
	}
	if j, ok := t.aliases[string(k)]; ok {
		return j
	}
	return -1
}

// ArrayField returns the elements (without the brackets) of the array
// that is the value of key in a JSON object, and whether the key is there
// with an array or null.
func ArrayField(doc []byte, key string) ([]byte, bool) {
	s := &scanner{}
	s.reset(doc)
	if !s.enter('{') {
		return nil, false
	}
	for first := true; s.more('}', &first); {
		if string(s.key()) != key {
			s.skip()
			continue
		}
		if s.isNull() {
			return nil, true
		}
		raw := s.raw()
		if s.err != nil || len(raw) < 2 || raw[0] != '[' {
			return nil, false
		}
		return bytes.TrimSpace(raw[1 : len(raw)-1]), true
	}
	return nil, false
}
