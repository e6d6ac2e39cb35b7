#!/usr/bin/env bash
# Runs each libFuzzer target (tests/fuzz) for SECONDS (default 60) with AddressSanitizer and
# UndefinedBehaviorSanitizer, after building them with clang into build-fuzz and making seed
# corpora from ../shared/models. Exits non-zero on the first finding; the input that caused
# it is left in build-fuzz/findings/. usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
(( ${#targets[@]} )) || targets=(fuzz_gguf fuzz_tokenizer fuzz_batch_line fuzz_jinja)
shared="$(realpath -m "${KILN_SHARED:-../shared}")"
models="$shared/models"

need=()
for p in clang libclang-rt-14-dev libomp-14-dev; do  # libomp: clang's omp.h for -fopenmp
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if (( ${#need[@]} )); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
scripts/setup.sh --deps  # the Debian libraries kiln itself needs

cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DKILN_FUZZ=ON -DBUILD_TESTING=OFF >&2
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" >&2

# Seed corpora, made from the shared models at each run (nothing copied into the repository).
corpus=build-fuzz/corpus
mkdir -p "$corpus"/{fuzz_gguf,fuzz_tokenizer,fuzz_batch_line,fuzz_jinja} build-fuzz/findings
for f in "$models/stories260K.gguf" "$models/random/llama-2-tiny-random.gguf" \
         "$models/tokenizers/llama2/ggml-vocab-llama-spm.gguf"; do
  [[ -f "$f" ]] && head -c 200000 "$f" > "$corpus/fuzz_gguf/$(basename "$f").head"
done
cp "$models/stories260K.gguf" "$corpus/fuzz_gguf/" 2>/dev/null || true
split -l 1 -d "$models/tokenizers/llama2/ggml-vocab-llama-spm.gguf.inp" "$corpus/fuzz_tokenizer/inp-" 2>/dev/null || true
printf '%s\n' '{"prompt": "Once upon a time", "n_predict": 8}' > "$corpus/fuzz_batch_line/a"
printf '%s\n' '{"id": "x", "prompt": "hi", "temp": 0.5, "stop": ["."], "seed": 3, "logprobs": 2}' > "$corpus/fuzz_batch_line/b"
printf '%s\n' '{"id": 7, "prompt": "a", "top_k": 40, "top_p": 0.9, "min_p": 0.05, "typical": 1, "ignore_eos": true}' > "$corpus/fuzz_batch_line/c"
printf '%s\n' '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "hi"}], "n": 2, "logprobs": true, "top_logprobs": 3, "response_format": {"type": "json_object"}}}' > "$corpus/fuzz_batch_line/d"
printf '%s\n' '{"custom_id": "r2", "url": "/v1/completions", "body": {"prompt": ["x"], "max_tokens": 4, "logprobs": 2, "stop": ["."], "seed": 1}}' > "$corpus/fuzz_batch_line/e"
cp "$shared"/chat/templates/*.jinja "$corpus/fuzz_jinja/" 2>/dev/null || true
cp tests/jinja/hostile/*.jinja "$corpus/fuzz_jinja/"

status=0
for t in "${targets[@]}"; do
  echo "kiln fuzz: $t for $seconds s" >&2
  mkdir -p "tests/fuzz/regressions/$t"  # inputs of past findings, fixed: run every time
  if ! ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz/"$t" "$corpus/$t" "tests/fuzz/regressions/$t" -max_total_time="$seconds" -rss_limit_mb=4096 \
        -timeout=20 -artifact_prefix=build-fuzz/findings/"$t"- -print_final_stats=1 2> "build-fuzz/$t.log"; then
    echo "kiln fuzz: $t found a problem (build-fuzz/$t.log, input in build-fuzz/findings/)" >&2
    tail -40 "build-fuzz/$t.log" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build-fuzz/$t.log" | sed "s/^/  $t /" >&2 || true
done
exit $status
