#!/usr/bin/env bash
# Prints the path of the TinyLlama-1.1B-shaped benchmark model of TYPE (default q4_0) in
# $KILN_BENCH_DIR (default build/models), made by scripts/gen-speed.sh when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-q4_0}"
dir="$(realpath -m "${KILN_BENCH_DIR:-build/models}")"
m="$dir/tinyllama-1.1b-$type.gguf"
[[ -f "$m" ]] || KILN_BENCH_DIR="$dir" scripts/gen-speed.sh "$type" >/dev/null
echo "$m"
