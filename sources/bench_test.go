package sources

import (
	"bufio"
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

var (
	benchOnce sync.Once
	benchData []byte
)

// benchJSONL is about 100,000 generated spans as Collector JSON Lines.
func benchJSONL(b *testing.B) []byte {
	benchOnce.Do(func() {
		var buf bytes.Buffer
		if _, err := synth.WriteJSONL(&buf, synth.Config{Requests: 100_000 / synth.SpansPerRequest, Seed: 7}); err != nil {
			b.Fatal(err)
		}
		benchData = buf.Bytes()
	})
	return benchData
}

// BenchmarkLoadJSONL measures the whole load: sniffing, line batching,
// parallel decoding, interning and storing spans.
func BenchmarkLoadJSONL(b *testing.B) {
	data := benchJSONL(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var spans int
	for b.Loop() {
		ds, err := LoadReader(context.Background(), "bench", bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		spans = ds.Spans
	}
	b.ReportMetric(float64(spans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkDecodeOTLPOneCore measures the decoder alone on one goroutine.
func BenchmarkDecodeOTLPOneCore(b *testing.B) {
	data := benchJSONL(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		sk := newSink(model.NewCatalog(), nil)
		d := newDecoder(sk)
		st := &store{}
		in := &input{name: "bench"}
		if err := decodeJob(d, sk, &job{in: in, buf: data, lineBase: 1}, st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPdataJSONL is the reference point: the Collector's own
// ptrace.JSONUnmarshaler over the same lines, recording only durations.
func BenchmarkPdataJSONL(b *testing.B) {
	data := benchJSONL(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var u ptrace.JSONUnmarshaler
		var total int64
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			td, err := u.UnmarshalTraces(sc.Bytes())
			if err != nil {
				b.Fatal(err)
			}
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					sp := sss.At(j).Spans()
					for k := 0; k < sp.Len(); k++ {
						s := sp.At(k)
						total += int64(s.EndTimestamp() - s.StartTimestamp())
					}
				}
			}
		}
		if total == 0 {
			b.Fatal("no spans")
		}
	}
}

// benchDecode times the decoder alone on one goroutine over data, which
// holds want spans. One pass comes first: interning and slice growth
// happen once per run, so allocs/op is what every further document costs.
func benchDecode(b *testing.B, data []byte, want int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	sk := newSink(model.NewCatalog(), nil)
	sk.file = "bench"
	d := newDecoder(sk)
	if err := d.decodeAll(data); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for i := range sk.buckets {
			sk.buckets[i] = sk.buckets[i][:0]
		}
		sk.spans = 0
		if err := d.decodeAll(data); err != nil {
			b.Fatal(err)
		}
	}
	if sk.spans != want {
		b.Fatalf("%d spans, want %d", sk.spans, want)
	}
	b.ReportMetric(float64(want)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// benchLoad times LoadReader (reading, storing, merging) over data, which
// holds want spans.
func benchLoad(b *testing.B, data []byte, want int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ds, err := LoadReader(context.Background(), "bench.json", bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if ds.Spans != want {
			b.Fatalf("%d spans, want %d", ds.Spans, want)
		}
	}
	b.ReportMetric(float64(want)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}
