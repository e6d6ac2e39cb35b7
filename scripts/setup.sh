#!/usr/bin/env bash
# Installs what kiln needs from Debian (when missing), then configures and builds it.
# usage: scripts/setup.sh [--tests | --deps]   (--tests also installs the reference-check packages and
# builds the tests; --deps only installs the packages kiln builds with)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libcli11-dev libspdlog-dev libsentencepiece-dev catch2 nlohmann-json3-dev libpcre2-dev libedit-dev)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(python3-numpy python3-torch python3-regex python3-jinja2 python3-jsonschema tmux openmpi-bin libbenchmark-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "kiln setup: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "kiln setup: run as root or install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

[[ "${1:-}" == "--deps" ]] && exit 0

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING="$([[ "${1:-}" == "--tests" ]] && echo ON || echo OFF)" >&2
cmake --build build -j"$(nproc)" >&2
