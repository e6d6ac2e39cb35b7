#!/usr/bin/env bash
# Generation speed under a JSON schema against the same generation unconstrained, measured in the
# same run. usage: scripts/grammar-speed.sh MODEL... (default: the TinyLlama and Qwen2.5-0.5B shapes
# of scripts/gen-speed.sh and scripts/arch-speed.sh, under $KILN_BENCH_DIR, default build/models)
# Prints a markdown table: tokens/s unconstrained (--ignore-eos), constrained, their ratio, and the
# share of generation time finding the allowed tokens. Best of 3 runs of 256 tokens on 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(realpath -m "${KILN_BENCH_DIR:-build/models}")"
models=("$@")
(( ${#models[@]} )) || models=("$dir/tinyllama-1.1b-q4_0.gguf" "$dir/qwen2.5-0.5b-q4_k_m.gguf")
schema=$(mktemp --suffix=.json)
trap 'rm -f "$schema"' EXIT
# Nested objects and strings (unbounded: a model's strings end when it closes them).
cat > "$schema" <<'JSON'
{"type": "object", "properties": {"title": {"type": "string"},
 "author": {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string"}}, "required": ["name", "email"]},
 "chapters": {"type": "array", "items": {"type": "object", "properties": {"heading": {"type": "string"}, "pages": {"type": "integer"}},
              "required": ["heading", "pages"]}}}, "required": ["title", "author", "chapters"]}
JSON
best() {  # best t/s (and the grammar share) of 3 runs of kiln run "$@"
  local b="" share=""
  for seed in 1 2 3; do
    local err
    err=$(build/kiln run "$@" -p "Write a record:" -n 256 --temp 1 --seed $seed -t 2 2>&1 >/dev/null)
    local tps
    tps=$(sed -nE 's/.*generated [0-9]+ tokens, ([0-9.]+) t\/s.*/\1/p' <<<"$err")
    [[ -n "$tps" ]] || continue
    if [[ -z "$b" ]] || awk "BEGIN{exit !($tps > $b)}"; then
      b=$tps
      share=$(sed -nE 's/.*grammar: ([0-9.]+)% of generation.*/\1/p' <<<"$err")
    fi
  done
  echo "$b ${share:--}"
}
echo "| model | vocabulary | unconstrained t/s | JSON schema t/s | ratio | mask share |"
echo "|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  vocab=$(build/kiln info -m "$m" 2>/dev/null | sed -nE 's/.*vocab ([0-9]+),.*/\1/p' | head -1)
  read -r free _ <<<"$(best -m "$m" --ignore-eos)"
  read -r constrained share <<<"$(best -m "$m" --json-schema-file "$schema")"
  echo "| $(basename "$m") | ${vocab:-?} | $free | $constrained | $(awk "BEGIN{printf \"%.2f\", $constrained / $free}") | $share% |"
done
