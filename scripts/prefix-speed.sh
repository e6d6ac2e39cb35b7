#!/usr/bin/env bash
# kiln batch with and without shared-prefix reuse, in the same run: 256 requests share a
# system text of 400 tokens, each adds its own question of about 20 tokens and generates 64
# tokens (--ignore-eos), --parallel 16, 2 threads, on the TinyLlama-1.1B-shaped model of
# scripts/gen-speed.sh (made when missing, in $KILN_BENCH_DIR, default build/models).
# usage: scripts/prefix-speed.sh [TYPE] [REQUESTS]   (default: q4_0 256)
# Prints a markdown table and checks that both runs wrote the same results.
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-q4_0}"
requests="${2:-256}"
m="$(scripts/bench-model.sh "$type")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

count() { build/kiln tokenize -m "$m" --mmap -p "$1" 2>/dev/null | wc -w; }
words=(you are a careful assistant who answers questions about rivers mountains and the old towns along
       them with short plain sentences and never makes up a name or a date that the notes below do not give)
# The system text: words until 400 tokens (BOS included), checked with kiln's own tokenizer.
system=""
i=0
while :; do
  next="$system${system:+ }${words[$(( i % ${#words[@]} ))]}"
  (( i % 20 == 19 )) && next="$next."
  if (( i > 300 )) && (( $(count "$next") > 400 )); then break; fi
  system="$next"
  i=$((i + 1))
done
echo "system text: $(count "$system") tokens" >&2
/usr/bin/python3 - "$system" "$requests" > "$work/in.jsonl" <<'EOF'
import json, sys
system, n = sys.argv[1], int(sys.argv[2])
towns = ["Arles", "Basel", "Cologne", "Dresden", "Esbjerg", "Florence", "Ghent", "Hallstatt"]
for i in range(n):
    q = f" Question {i}: which river runs through {towns[i % 8]}, and how far is it from the sea?"
    print(json.dumps({"id": i, "prompt": system + q}))
EOF

echo "| prefix reuse | requests | prompt tokens computed | reused | seconds | generated t/s |"
echo "|---|---|---|---|---|---|"
declare -A secs
for mode in on off; do
  flag=()
  [[ $mode == off ]] && flag=(--no-prefix-reuse)
  start=$(date +%s.%N)
  build/kiln batch -m "$m" -i "$work/in.jsonl" -o "$work/out-$mode.jsonl" --no-resume --parallel 16 -t 2 -n 64 \
    --ignore-eos --temp 0 -c 512 "${flag[@]}" 2> "$work/err-$mode"
  end=$(date +%s.%N)
  secs[$mode]=$(awk "BEGIN {print $end - $start}")
  stats=$(grep -o 'prompt tokens: [0-9]* computed, [0-9]* reused' "$work/err-$mode")
  computed=$(echo "$stats" | awk '{print $3}')
  reused=$(echo "$stats" | awk '{print $5}')
  printf '| %s | %s | %s | %s | %.1f | %.1f |\n' "$mode" "$requests" "$computed" "$reused" "${secs[$mode]}" \
    "$(awk "BEGIN {print $requests * 64 / ${secs[$mode]}}")"
done
printf 'throughput with reuse: %.2fx without\n' "$(awk "BEGIN {print ${secs[off]} / ${secs[on]}}")"
/usr/bin/python3 - "$work/out-on.jsonl" "$work/out-off.jsonl" <<'EOF'
import json, sys
a, b = ({j["id"]: j["text"] for j in map(json.loads, open(p))} for p in sys.argv[1:])
assert len(a) == len(b) and a == b, "results differ"
print(f"outputs identical ({len(a)} results)")
EOF
