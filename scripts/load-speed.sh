#!/usr/bin/env bash
# Load time, time from start to exit with the first token, and peak RSS against the file and
# the KV cache, for each model and each way of loading (the default copy into 2 MiB pages, and
# --mmap), over 3 runs of `kiln run -p "The GNU General Public License" -n 1` on 2 threads.
# usage: scripts/load-speed.sh MODEL.gguf...
set -euo pipefail
cd "$(dirname "$0")/.."
(( $# )) || { echo "usage: scripts/load-speed.sh MODEL.gguf..." >&2; exit 1; }
[[ -x build/kiln ]] || scripts/setup.sh
echo "| model | load | load s (3 runs) | start to exit s | peak RSS MiB | file MiB | KV cache MiB | RSS over file + KV |"
echo "|---|---|---|---|---|---|---|---|"
for m in "$@"; do
  info=$(build/kiln info -m "$m" 2>/dev/null)
  key() { awk -v k="$1" '$1 ~ "\\." k "$" {print $3; exit}' <<<"$info"; }
  layers=$(key block_count) ctx=$(key context_length) embd=$(key embedding_length)
  heads=$(key attention.head_count) kv_heads=$(key attention.head_count_kv) head_dim=$(key attention.key_length)
  [[ -n "$head_dim" ]] || head_dim=$(( embd / heads ))
  (( ctx > 4096 )) && ctx=4096  # kiln run's default context
  kv_mib=$(( 2 * layers * ctx * kv_heads * head_dim * 2 / 1048576 ))  # K and V, f16, every layer whole
  file_mib=$(( $(stat -c %s "$m") / 1048576 ))
  for load in --no-mmap --mmap; do
    loads=() totals=() rss=0
    for _ in 1 2 3; do
      out=$( { /usr/bin/time -f "time %e %M" build/kiln run -m "$m" "$load" -p "The GNU General Public License" -n 1 --temp 0 -t 2 >/dev/null; } 2>&1)
      loads+=("$(sed -nE 's/.*load ([0-9.]+) s.*/\1/p' <<<"$out")")
      read -r _ total kb < <(grep '^time ' <<<"$out")
      totals+=("$total")
      (( kb > rss )) && rss=$kb
    done
    rss_mib=$(( rss / 1024 ))
    over=$(awk -v r="$rss_mib" -v f="$file_mib" -v k="$kv_mib" 'BEGIN {printf "%+.1f%%", 100 * (r - f - k) / (f + k)}')
    echo "| $(basename "$m") | $load | ${loads[*]} | ${totals[*]} | $rss_mib | $file_mib | $kv_mib | $over |"
  done
done
