#!/usr/bin/env bash
# kiln on a machine where another process holds a core: pp and tg at -t 1 and -t 2, idle and
# with a spinning process beside them (started here, stopped at the end), on the
# TinyLlama-1.1B-shaped model of scripts/gen-speed.sh (made when missing, in $KILN_BENCH_DIR,
# default build/models). usage: scripts/busy-speed.sh [TYPE] [REPETITIONS]   (default q4_0 3)
# Prints a markdown table; every figure comes from this one run.
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-q4_0}"
reps="${2:-3}"
m="$(scripts/bench-model.sh "$type")"

spinner=""
trap '[[ -n $spinner ]] && kill $spinner 2>/dev/null; true' EXIT
rates() {  # -t THREADS: "pp128 tg64" in tokens/s
  build/kiln bench -m "$m" -p 128 -n 64 -r "$reps" -t "$1" -o csv 2>/dev/null |
    awk -F, 'NR > 1 { gsub(/"/, ""); printf "%s ", $8 }'
}
echo "| machine | -t | pp128 t/s | tg64 t/s |"
echo "|---|---|---|---|"
declare -A pp tg
for load in idle busy; do
  if [[ $load == busy ]]; then
    (while :; do :; done) &
    spinner=$!
    sleep 1
  fi
  for t in 1 2; do
    read -r p g <<< "$(rates $t)"
    pp[$load$t]=$p tg[$load$t]=$g
    printf '| %s | %s | %.1f | %.1f |\n' "$load" "$t" "$p" "$g"
  done
done
kill "$spinner" 2>/dev/null || true
spinner=""
awk -v p1="${pp[busy1]}" -v p2="${pp[busy2]}" -v g1="${tg[busy1]}" -v g2="${tg[busy2]}" \
  'BEGIN { printf "with a core busy, -t 2 against -t 1: pp %.2fx, tg %.2fx\n", p2 / p1, g2 / g1 }'
