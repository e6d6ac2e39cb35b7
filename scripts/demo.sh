#!/usr/bin/env bash
# Sets kiln up and runs it on the default model: ../shared/models/stories260K.gguf, or $KILN_MODEL.
# Extra arguments go to `kiln run` (e.g. -p "The cat" -n 100).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model="${KILN_MODEL:-../shared/models/stories260K.gguf}"
if [[ ! -f "$model" ]]; then
  echo "kiln: no model at $model. Set KILN_MODEL=/path/to/model.gguf (a Llama GGUF; scripts/make-model.py makes one)," >&2
  echo "      or put the shared test models at ../shared/models beside this checkout." >&2
  exit 1
fi
if (( $# == 0 )); then set -- -p "Once upon a time" -n 128 --echo; fi
exec build/kiln run -m "$model" "$@"
