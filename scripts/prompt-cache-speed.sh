#!/usr/bin/env bash
# Time to the first token with and without --prompt-cache, in the same run: a prompt of about
# 1,000 tokens, run once to fill the cache file and once from it (16 tokens generated, greedy),
# on the TinyLlama-1.1B-shaped model of scripts/gen-speed.sh (made when missing, in
# $KILN_BENCH_DIR, default build/models). usage: scripts/prompt-cache-speed.sh [TYPE] [TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-q4_0}"
want="${2:-1000}"
m="$(scripts/bench-model.sh "$type")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

sentence="The old mill by the river ground wheat for the town, and every spring the water rose to its door."
prompt="$sentence"
while (( $(build/kiln tokenize -m "$m" --mmap -p "$prompt $sentence" 2>/dev/null | wc -w) <= want )); do
  prompt="$prompt $sentence"
done
n=$(build/kiln tokenize -m "$m" --mmap -p "$prompt" 2>/dev/null | wc -w)
run() { build/kiln run -m "$m" -p "$prompt" -n 16 --temp 0 -t 2 -c $((n + 64)) --json "$@" 2>>"$work/err"; }
cold=$(run --prompt-cache "$work/cache")
warm=$(run --prompt-cache "$work/cache")
plain=$(run)
/usr/bin/python3 - "$n" "$cold" "$warm" "$plain" "$(stat -c %s "$work/cache")" <<'PY'
import json, sys
n, cold, warm, plain, size = int(sys.argv[1]), *map(json.loads, sys.argv[2:5]), int(sys.argv[5])
c, w = cold["timings"]["prompt_s"], warm["timings"]["prompt_s"]
print(f"prompt {n} tokens; cache file {size / 2**20:.1f} MiB")
print(f"time to first token: {c:.3f} s computed, {w:.3f} s from the cache ({100 * w / c:.1f}%)")
assert cold["text"] == warm["text"] == plain["text"], "texts differ"
print("texts identical (with and without the cache)")
PY
