#!/usr/bin/env bash
# Generation speed against the machine's read bandwidth, measured in the same run.
# usage: scripts/gen-speed.sh [TYPES...]   (default: q4_0 q8_0 q4_k_m; f16 works too)
# Makes a TinyLlama-1.1B-shaped model with random weights (scripts/make-model.py), quantizes
# it with kiln (the IQ1/IQ2/IQ3 types: random blocks of the type, by make-model.py), then for each type and each way of loading (--mmap; --no-mmap, a copy in
# huge-page memory) takes the best of 3 runs of 128 generated tokens on 2 threads, and prints
# a markdown table. Models go to $KILN_BENCH_DIR (default build/models).
set -euo pipefail
cd "$(dirname "$0")/.."
types=("$@")
(( ${#types[@]} )) || types=(q4_0 q8_0 q4_k_m)
dir="$(realpath -m "${KILN_BENCH_DIR:-build/models}")"
threads=2
mkdir -p "$dir"
[[ -x build/kiln && -x build/membw ]] || scripts/setup.sh

f16="$dir/tinyllama-1.1b-f16.gguf"
[[ -f "$f16" ]] || (cd scripts && /usr/bin/python3 make-model.py tinyllama-1.1b "$f16")
for t in "${types[@]}"; do
  m="$dir/tinyllama-1.1b-$t.gguf"
  [[ "$t" == f16 || -f "$m" ]] && continue
  case "$t" in
    iq1_*|iq2_*|iq3_xxs|iq3_s)  # these take an importance matrix, meaningless for random weights: random blocks
      (cd scripts && /usr/bin/python3 make-model.py tinyllama-1.1b "$m" --random-blocks "$t") ;;
    *) build/kiln quantize "$f16" "$m" --type "$t" -q 2>/dev/null ;;
  esac
done

probe=$(build/membw "$threads")
echo "read bandwidth probe ($threads threads): $probe GB/s" >&2
echo "| type | load | file | tg t/s | weights read per token | GB/s | fraction of probe ($probe GB/s) |"
echo "|---|---|---|---|---|---|---|"
for t in "${types[@]}"; do
 for load in --mmap --no-mmap; do
  m="$dir/tinyllama-1.1b-$t.gguf"
  best=""
  for _ in 1 2 3; do
    line=$(build/kiln run -m "$m" "$load" -p "The GNU General Public License" -n 128 --temp 0 --ignore-eos -t "$threads" 2>&1 >/dev/null | tail -1)
    tps=$(sed -E 's/.*generated [0-9]+ tokens, ([0-9.]+) t\/s.*/\1/' <<<"$line")
    gbs=$(sed -E 's/.*t\/s, ([0-9.]+) GB\/s of weights.*/\1/' <<<"$line")
    if [[ -z "$best" ]] || awk "BEGIN{exit !($tps > ${best%% *})}"; then best="$tps $gbs"; fi
  done
  read -r tps gbs <<<"$best"
  size=$(du -mL "$m" | cut -f1)
  per_token=$(awk "BEGIN{printf \"%.0f MB\", $gbs / $tps * 1000}")
  echo "| $t | $load | $size MiB | $tps | $per_token | $gbs | $(awk "BEGIN{printf \"%.0f%%\", 100 * $gbs / $probe}") |"
 done
done
