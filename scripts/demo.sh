#!/usr/bin/env bash
# The demo: the whole pipeline on the shipped demo corpus and tiny COMET model, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-onnxruntime.sh
cargo run --release -- run all "$@"
