#!/usr/bin/env bash
# kiln batch throughput against parallelism, with kiln's own pp512 rate measured in the same run.
# usage: scripts/batch-speed.sh [TYPE] [PARALLEL...]   (default: q4_0, parallel 1 2 4 8 16)
# 64 prompts of 32 tokens each generate 128 tokens (--ignore-eos) on 2 threads, on the
# TinyLlama-1.1B-shaped model of scripts/gen-speed.sh (made when missing, in $KILN_BENCH_DIR,
# default build/models). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-q4_0}"
shift || true
levels=("$@")
(( ${#levels[@]} )) || levels=(1 2 4 8 16)
m="$(scripts/bench-model.sh "$type")"
threads=2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 64 prompts of exactly 32 tokens (BOS included): words appended until the tokenizer says so.
words=(the quick brown fox jumps over a lazy dog while seven bright stars shine above old mountains and rivers)
for i in $(seq 0 63); do
  prompt=""
  j=0
  while :; do
    next="$prompt${prompt:+ }${words[$(( (i * 7 + j * 3) % ${#words[@]} ))]}"
    n=$(build/kiln tokenize -m "$m" --mmap -p "$next" 2>/dev/null | wc -w)
    (( n > 32 )) && break
    prompt="$next"
    j=$((j + 1))
  done
  printf '{"prompt": "%s"}\n' "$prompt"
done > "$work/prompts.jsonl"

pp=$(build/kiln bench -m "$m" -p 512 -n 0 -r 3 -t "$threads" -o csv 2>/dev/null | tail -1 | cut -d, -f8 | tr -d '"')
echo "model $m, pp512 $pp t/s ($threads threads)" >&2
echo "| --parallel | requests | generated tokens | seconds | generated t/s | vs --parallel 1 | vs pp512 ($pp t/s) |"
echo "|---|---|---|---|---|---|---|"
base=""
for p in "${levels[@]}"; do
  out="$work/out-$p.jsonl"
  line=$(build/kiln batch -m "$m" -i "$work/prompts.jsonl" -o "$out" --no-resume -n 128 --ignore-eos -c 256 \
           --parallel "$p" -t "$threads" 2>&1 | tail -1)
  secs=$(sed -E 's/.* in ([0-9.]+) s:.*/\1/' <<<"$line")
  tokens=$(sed -E 's/.*; ([0-9]+) tokens generated.*/\1/' <<<"$line")
  tps=$(awk "BEGIN{printf \"%.1f\", $tokens / $secs}")
  [[ -n "$base" ]] || base="$tps"
  echo "| $p | $(wc -l < "$out") | $tokens | $secs | $tps | $(awk "BEGIN{printf \"%.2fx\", $tps / $base}") | $(awk "BEGIN{printf \"%.0f%%\", 100 * $tps / $pp}") |"
done
