#!/usr/bin/env bash
# The demo: the whole pipeline on the shipped demo corpus and tiny COMET model, offline, with
# as many stages at once as there are cores (`run -j`; JOBS=N to choose). Extra arguments go
# to `iamm-pipe run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-onnxruntime.sh
cargo run --release -- run all -j "${JOBS:-$(nproc)}" "$@"
