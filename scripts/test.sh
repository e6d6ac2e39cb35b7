#!/usr/bin/env bash
# Sets kiln up with its tests and runs the whole suite: once on the release build, then
# again on a build with AddressSanitizer and UndefinedBehaviorSanitizer (skip that second
# pass with KILN_SKIP_SANITIZE=1), then each fuzz target for KILN_FUZZ_SECONDS (default 60;
# 0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
(cd build && ctest --output-on-failure -j"$(nproc)")

if [[ "${KILN_SKIP_SANITIZE:-0}" != 1 ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=ON -DBUILD_TESTING=ON >&2
  cmake --build build-asan -j"$(nproc)" >&2
  (cd build-asan && ctest --output-on-failure -j"$(nproc)")
fi

if [[ "${KILN_FUZZ_SECONDS:-60}" != 0 ]]; then
  scripts/fuzz.sh "${KILN_FUZZ_SECONDS:-60}"
fi
