#!/usr/bin/env bash
# Rewrites the README's sample outputs (the blocks after `<!-- sample: NAME -->`) with what this
# build prints on the demo, then the viewer screenshot; tests/readme.rs fails until they match.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-onnxruntime.sh
IAMM_UPDATE_README=1 cargo test --release -p iamm-pipe --test readme -- readme_samples_are_what_the_demo_prints
scripts/viewer-screenshot.sh
git diff --stat README.md docs/viewer.png || true
