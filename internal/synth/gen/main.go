// Command gen writes generated LLM chat traces as OTLP JSON Lines: the
// sample in testdata/ and the benchmark input.
//
//	go run ./internal/synth/gen -requests 300 -o testdata/sample/chat.otlp.jsonl
//	go run ./internal/synth/gen -spans 1000000 -o /tmp/bench.jsonl
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/trace-forensics/trace-forensics/internal/synth"
)

func main() {
	requests := flag.Int("requests", 300, "requests to generate")
	spans := flag.Int("spans", 0, "generate about this many spans instead of -requests")
	seed := flag.Uint64("seed", 1, "random seed; the same seed gives the same file")
	regress := flag.Float64("llm-b", 1.15, "LLM latency factor of prompt version B")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	if *spans > 0 {
		*requests = (*spans + synth.SpansPerRequest - 1) / synth.SpansPerRequest
	}
	w := os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	n, err := synth.WriteJSONL(w, synth.Config{Requests: *requests, Seed: *seed, LLMFactor: map[string]float64{"B": *regress}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "wrote %d requests, %d spans\n", *requests, n)
}
