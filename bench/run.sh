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

# The two programs run in turns, so that both see the same moments of a
# machine whose speed drifts; the speed-up is the median of the per-turn
# ratios. Wall time, throughput and peak RSS come from /usr/bin/time -v.
run1() { # name, command...: prints the wall time; the figures go to stderr
  /usr/bin/time -v "${@:2}" > /dev/null 2> "$dir/time.txt"
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): \(.*\)/\1/p' "$dir/time.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): \(.*\)/\1/p' "$dir/time.txt")
  awk -v n="$1" -v w="$wall" -v r="$rss" -v b="$bytes" -v s="$spans" 'BEGIN {
    printf "%-12s wall %.2fs  %6.0f MB/s  peak RSS %6.1f MB  %5.1f bytes/span\n", n, w, b/w/1e6, r/1024, r*1024/s > "/dev/stderr"
    print w }'
}
ratios=()
for i in $(seq "$runs"); do
  tf=$(run1 breakdown "$dir/trace-forensics" breakdown -q "$file")
  pd=$(run1 pdataloop "$dir/pdataloop" "$file")
  ratios+=("$(awk -v a="$pd" -v b="$tf" 'BEGIN { printf "%.2f", a/b }')")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
  m = (NR % 2) ? r[(NR+1)/2] : (r[NR/2] + r[NR/2+1]) / 2
  printf "speed-up over the pdata loop, per turn: %s to %s, median %.2fx\n", r[1], r[NR], m }'

go test ./sources ./analyze -run '^$' -bench . -benchmem -benchtime 10x
