#!/usr/bin/env bash
# Times `trace-forensics breakdown` on a generated 1,000,000-span Collector
# JSON Lines file (about 385 MB) with /usr/bin/time -v, beside the reference
# pdata loop, then runs the Go benchmarks. Usage: bench/run.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/trace-forensics-bench}
mkdir -p "$dir"
file=$dir/spans-1m.jsonl
if [ ! -f "$file" ]; then
  go run ./internal/synth/gen -spans 1000000 -seed 1 -o "$file"
fi
go build -o "$dir/trace-forensics" ./cmd/trace-forensics
go build -o "$dir/pdataloop" ./bench/pdataloop
bytes=$(stat -c %s "$file")
spans=$("$dir/trace-forensics" breakdown -f json -q "$file" | sed -n 's/^  "spans": \([0-9]*\),$/\1/p')
echo "input: $file, $bytes bytes, $spans spans, $(nproc) cores"

measure() { # name, command...
  local name=$1; shift
  for i in $(seq "$runs"); do
    /usr/bin/time -v "$@" > /dev/null 2> "$dir/time.txt"
    local wall rss
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): \(.*\)/\1/p' "$dir/time.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): \(.*\)/\1/p' "$dir/time.txt")
    awk -v n="$name" -v w="$wall" -v r="$rss" -v b="$bytes" -v s="$spans" 'BEGIN {
      printf "%-12s wall %.2fs  %6.0f MB/s  peak RSS %6.1f MB  %5.1f bytes/span\n", n, w, b/w/1e6, r/1024, r*1024/s }'
  done
}
measure breakdown "$dir/trace-forensics" breakdown -q "$file"
measure pdataloop "$dir/pdataloop" "$file"

go test ./sources ./analyze -run '^$' -bench . -benchmem -benchtime 10x
