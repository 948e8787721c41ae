package sources

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"
)

func TestScannerStrings(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{`"plain"`, "plain"},
		{`""`, ""},
		{`"a\"b"`, `a"b`},
		{`"back\\"`, `back\`},
		{`"back\\\\"`, `back\\`},
		{`"esc\\\"aped"`, `esc\"aped`},
		{`"tab\tnew\nline"`, "tab\tnew\nline"},
		{`"\u00e9t\u00e9"`, "été"},
		{`"\ud83d\ude00"`, "😀"},
		{`"0123456789abcdef0123456789abcdef\"x"`, `0123456789abcdef0123456789abcdef"x`},
		{`"12345678\\"`, `12345678\`},
		{`"1234567\\"`, `1234567\`},
	}
	for _, c := range cases {
		s := scanner{buf: []byte(c.in + ` ,`)}
		got := s.str()
		if s.err != nil {
			t.Errorf("%s: %v", c.in, s.err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s: got %q, want %q", c.in, got, c.want)
		}
		if s.pos != len(c.in) {
			t.Errorf("%s: stopped at %d, want %d", c.in, s.pos, len(c.in))
		}
	}
}

func TestScannerSkip(t *testing.T) {
	good := []string{
		`{}`, `[]`, `"x"`, `12`, `-1.5e3`, `true`, `false`, `null`,
		`{"a":[1,2,{"b":"}]\"["}],"c":null}`,
		`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`,
		`"` + strings.Repeat(`\\`, 9) + `"`,
	}
	for _, in := range good {
		s := scanner{buf: []byte(in + `,`)}
		s.skip()
		if s.err != nil || s.pos != len(in) {
			t.Errorf("skip(%s): pos %d err %v", in, s.pos, s.err)
		}
	}
	bad := []string{`{"a":1`, `[1,2`, `"open`, `tru`, `@`, `{"a":"b\"}`}
	for _, in := range bad {
		s := scanner{buf: []byte(in)}
		s.skip()
		if s.err == nil {
			t.Errorf("skip(%s): no error", in)
		}
	}
}

func TestScannerDeepNestingDoesNotRecurse(t *testing.T) {
	in := strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000)
	s := scanner{buf: []byte(in)}
	s.skip()
	if s.err != nil || s.pos != len(in) {
		t.Fatalf("pos %d err %v", s.pos, s.err)
	}
}

func TestScannerObjectIteration(t *testing.T) {
	s := scanner{buf: []byte(` { "a" : 1 , "b":[true, null] ,"c":"x" } `)}
	var keys []string
	if !s.enter('{') {
		t.Fatal(s.err)
	}
	for first := true; s.more('}', &first); {
		keys = append(keys, string(s.key()))
		s.skip()
	}
	if s.err != nil || strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("keys %v err %v", keys, s.err)
	}
	for _, in := range []string{`{"a":1 "b":2}`, `{,"a":1}`, `{"a":1,}`, `{"a" 1}`} {
		s := scanner{buf: []byte(in)}
		s.enter('{')
		for first := true; s.more('}', &first); {
			s.key()
			s.skip()
		}
		if s.err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

func TestParseInt(t *testing.T) {
	cases := map[string]int64{
		"0": 0, "1795183200046202431": 1795183200046202431, "9223372036854775807": 9223372036854775807,
		"-5": -5, "1.7e9": 1700000000, "12.0": 12,
	}
	for in, want := range cases {
		got, err := parseInt([]byte(in))
		if err != nil || got != want {
			t.Errorf("parseInt(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"9223372036854775808", "99999999999999999999", "1.5", "abc", ""} {
		if _, err := parseInt([]byte(in)); err == nil {
			t.Errorf("parseInt(%s): no error", in)
		}
	}
}

func TestDecodeHexID(t *testing.T) {
	var a, b [16]byte
	if !decodeHexID(a[:], []byte("0af7651916cd43dd8448eb211c80319c")) {
		t.Fatal("full ID rejected")
	}
	if !decodeHexID(b[:], []byte("af7651916cd43dd8448eb211c80319c")) {
		t.Fatal("31-digit ID rejected")
	}
	if a != b {
		t.Errorf("31-digit ID %x differs from the 32-digit one %x", b, a)
	}
	if !decodeHexID(b[:], []byte("0AF7651916CD43DD8448EB211C80319C")) || a != b {
		t.Error("uppercase ID differs")
	}
	for _, bad := range []string{"", "0af7651916cd43dd8448eb211c80319c00", "0af7651916cd43dd8448eb211c80319g", "xyz"} {
		if decodeHexID(b[:], []byte(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFastPaths(t *testing.T) {
	for _, in := range []string{"1795183200046202431", "0000000000000000001", "9223372036854775807", "1000000000000000000"} {
		s := scanner{buf: []byte(`"` + in + `",`)}
		got, ok := s.nanosString()
		want, _ := parseInt([]byte(in))
		if !ok || got != want || s.pos != 21 {
			t.Errorf("nanosString(%s) = %d, %v at %d; want %d", in, got, ok, s.pos, want)
		}
	}
	for _, in := range []string{"9223372036854775808", "179518320004620243a", "17951832000462024 1", "12"} {
		s := scanner{buf: []byte(`"` + in + `",`)}
		if _, ok := s.nanosString(); ok || s.pos != 0 {
			t.Errorf("nanosString(%s) accepted", in)
		}
	}
	for v := uint64(0); v < 100_000_000; v += 9_999_991 {
		b := []byte(fmt.Sprintf("%08d", v))
		if got, ok := eightDigits(b); !ok || got != v {
			t.Errorf("eightDigits(%s) = %d", b, got)
		}
	}
	for _, in := range []string{"0123456789abcdef", "FEDCBA9876543210", "00000000ffffffff"} {
		var got [8]byte
		want, _ := hex.DecodeString(in)
		if !decodeHexID(got[:], []byte(in)) || !bytes.Equal(got[:], want) {
			t.Errorf("decodeHexID(%s) = %x", in, got)
		}
	}
	for _, in := range []string{"0123456789abcdeg", "0123456789abcde/", "0123456789abcde:", "0123456789abcde@", "0123456789abcde`", "01234567\x80abcdef"} {
		var got [8]byte
		if decodeHexID(got[:], []byte(in)) {
			t.Errorf("decodeHexID(%q) accepted", in)
		}
	}
	var id [8]byte
	s := scanner{buf: []byte(`"eee19b7ec3c1b174",`)}
	if !s.hexString(id[:]) || s.pos != 18 || spanIDOf(id).String() != "eee19b7ec3c1b174" {
		t.Errorf("hexString: %x at %d", id, s.pos)
	}
	for _, in := range []string{`"eee19b7ec3c1b17",`, `"eee19b7ec3c1b17x",`, `"eee19b7e","c1b17",`} {
		s := scanner{buf: []byte(in)}
		if s.hexString(id[:]) || s.pos != 0 {
			t.Errorf("hexString(%s) accepted", in)
		}
	}
}

// TestHexIDsAgree checks the span and trace ID fast paths against
// hexString on random IDs in both cases, and that they refuse what it
// refuses without consuming anything.
func TestHexIDsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var raw [16]byte
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		for _, text := range []string{hex.EncodeToString(raw[:]), strings.ToUpper(hex.EncodeToString(raw[:]))} {
			var want model.TraceID
			s := scanner{buf: []byte(`"` + text + `",`)}
			if !s.hexString(want[:]) {
				t.Fatalf("hexString(%s) refused", text)
			}
			var got model.TraceID
			s = scanner{buf: []byte(`"` + text + `",`)}
			if !s.hexTraceID(&got) || got != want || s.pos != 34 {
				t.Errorf("hexTraceID(%s) = %x at %d, want %x", text, got, s.pos, want)
			}
			var wantSpan [8]byte
			s = scanner{buf: []byte(`"` + text[:16] + `"}`)}
			s.hexString(wantSpan[:])
			s = scanner{buf: []byte(`"` + text[:16] + `"}`)}
			if id, ok := s.hexSpanID(); !ok || id != spanIDOf(wantSpan) || s.pos != 18 {
				t.Errorf("hexSpanID(%s) = %v, %v at %d", text[:16], id, ok, s.pos)
			}
		}
	}
	for _, in := range []string{`"eee19b7ec3c1b17",`, `"eee19b7ec3c1b17x",`, `"eee19b7e","c1b17",`, `"eee19b7ec3c1b1740"`, `"eee19b7ec3c1b174`} {
		s := scanner{buf: []byte(in)}
		if _, ok := s.hexSpanID(); ok || s.pos != 0 {
			t.Errorf("hexSpanID(%s) accepted", in)
		}
		var id model.TraceID
		s = scanner{buf: []byte(strings.Replace(in, `"e`, `"0123456789abcdefe`, 1))}
		if s.hexTraceID(&id) || s.pos != 0 {
			t.Errorf("hexTraceID(%s) accepted", s.buf)
		}
	}
}

func TestHex8AgreesWithTable(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			in := []byte("a1B2c3D4")
			in[pos] = byte(c)
			_, ok := hex8(binary.LittleEndian.Uint64(in))
			if want := hexVal[c] != 0xff; ok != want {
				t.Fatalf("byte %#x at %d: hex8 says %v, table %v", c, pos, ok, want)
			}
		}
	}
}

func TestKeyTable(t *testing.T) {
	tab := newKeyTable("traceId|trace_id", "id", "name", "startTimeUnixNano", "aVeryLongKeyNameIndeedOverTwentyFour")
	in := `"traceId":1,"name":2,"nam":3,"startTimeUnixNano":4,"startTimeUnixNanx":5,` +
		`"aVeryLongKeyNameIndeedOverTwentyFour":6,"id":7,"trace_id":8,"traceId":9,"id":10}`
	s := scanner{buf: []byte(in)}
	// guesses right, wrong by one, wrong by more than two, and past the end
	guesses := []int{0, 1, 0, 2, 3, 0, 1, 4, 5, 2}
	var got []int
	for first := true; s.more('}', &first); {
		got = append(got, s.keyFrom(tab, guesses[len(got)]))
		s.skip()
	}
	want := []int{0, 2, -1, 3, -1, 4, 1, 0, 0, 1}
	if !slices.Equal(got, want) {
		t.Errorf("indexes %v, want %v", got, want)
	}
}

func TestKindForms(t *testing.T) {
	for in, want := range map[string]model.Kind{
		`2,`: model.KindServer, `3}`: model.KindClient, `0,`: model.KindUnspecified, `"SPAN_KIND_PRODUCER",`: model.KindProducer,
		`"consumer",`: model.KindConsumer, `"Span_Kind_Internal",`: model.KindInternal, `7,`: model.KindUnspecified, `12,`: model.KindUnspecified,
	} {
		d := newDecoder(newSink(model.NewCatalog(), nil))
		d.s.reset([]byte(in))
		if got := d.kind(&spanRec{}); got != want || d.s.err != nil {
			t.Errorf("kind(%s) = %v (err %v), want %v", in, got, d.s.err, want)
		}
	}
}

func TestPlainStringValue(t *testing.T) {
	for in, want := range map[string]string{`{"stringValue":"chat"}`: "chat", `{"stringValue":""}`: ""} {
		if v, ok := plainStringValue([]byte(in)); !ok || string(v) != want {
			t.Errorf("%s: %q %v", in, v, ok)
		}
	}
	for _, in := range []string{`{"stringValue":"a\"b"}`, `{"stringValue":"a","x":"b"}`, `{"intValue":"1"}`, `{"stringValue":"a"`, ``} {
		if _, ok := plainStringValue([]byte(in)); ok {
			t.Errorf("%s accepted", in)
		}
	}
}
