#!/usr/bin/env bash
# The test suite: unit, integration on ../shared/data, end-to-end on the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-onnxruntime.sh
cargo test --release --workspace "$@"
