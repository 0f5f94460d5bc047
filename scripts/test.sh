#!/usr/bin/env bash
# The test suite: unit, integration on ../shared/data, end-to-end on the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-onnxruntime.sh
# tests/integrity.rs traces a run with strace to prove that it opens no network socket.
if ! command -v strace >/dev/null; then
  echo "installing strace with apt-get (tests/integrity.rs needs it)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
fi
cargo test --release --workspace "$@"
