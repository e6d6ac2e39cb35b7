#!/usr/bin/env bash
# Speed of every architecture against TinyLlama's, measured in one run: for each real shape
# (scripts/make-model.py: tinyllama-1.1b, qwen2.5-0.5b, qwen3-0.6b, gemma3-1b, phi3-mini, or the
# shapes given) a random-weight model quantized by kiln to TYPE (default q4_k_m), then
# `kiln bench -p 512 -n 128 -r 3 --membw` on 2 threads. Prints a markdown table: pp512, tg128,
# tg's fraction of the read-bandwidth probe, and pp512 per parameter against TinyLlama's.
# usage: KILN_TYPE=q4_k_m scripts/arch-speed.sh [SHAPES...]; models go to $KILN_BENCH_DIR
# (default build/models).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes=("$@")
(( ${#shapes[@]} )) || shapes=(tinyllama-1.1b qwen2.5-0.5b qwen3-0.6b gemma3-1b phi3-mini)
type="${KILN_TYPE:-q4_k_m}"
dir="$(realpath -m "${KILN_BENCH_DIR:-build/models}")"
mkdir -p "$dir"
[[ -x build/kiln ]] || scripts/setup.sh

models=()
for s in "${shapes[@]}"; do
  f16="$dir/$s-f16.gguf" m="$dir/$s-$type.gguf"
  [[ -f "$f16" || -f "$m" ]] || (cd scripts && /usr/bin/python3 make-model.py "$s" "$f16")
  [[ -f "$m" ]] || build/kiln quantize "$f16" "$m" --type "$type" -q 2>/dev/null
  models+=(-m "$m")
done
out=$(build/kiln bench "${models[@]}" -p 512 -n 128 -r 3 -t 2 --membw -o json)
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
pp = {r["model_filename"]: r for r in rows if r["n_prompt"] > 0}
tg = {r["model_filename"]: r for r in rows if r["n_gen"] > 0}
base = next(iter(pp))
per_param = lambda f: pp[f]["avg_ts"] * pp[f]["model_n_params"]
print("| model | params | pp512 t/s | pp512 x params vs first | tg128 t/s | GB/s | of probe |")
print("|---|---|---|---|---|---|---|")
for f in pp:
    t = tg[f]
    print(f"| {f.split('/')[-1]} | {pp[f]['model_n_params'] / 1e9:.2f}B | {pp[f]['avg_ts']:.1f} | "
          f"{per_param(f) / per_param(base):.2f} | {t['avg_ts']:.1f} | {t['weights_gbs']:.1f} | "
          f"{t['roofline_fraction'] * 100:.0f}% (probe {t['membw_gbs']:.1f}) |")
PY
