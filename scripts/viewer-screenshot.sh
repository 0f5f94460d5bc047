#!/usr/bin/env bash
# Runs the demo pipeline up to the association viewer, renders its page in headless Chromium
# and writes the screenshot to docs/viewer.png (the one in the README).
#
#   scripts/viewer-screenshot.sh [iamm-pipe run options, e.g. -p viewer.seed=7]
#
# Env: CHROMIUM (browser binary; default: chromium on PATH, installed with apt-get when
# missing), WIDTH and HEIGHT (window size, default 1100x1500), OUT (default docs/viewer.png).
set -euo pipefail
cd "$(dirname "$0")/.."
WIDTH=${WIDTH:-1100}
HEIGHT=${HEIGHT:-1500}
OUT=${OUT:-docs/viewer.png}

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "chromium is not installed: installing Debian's chromium package with apt-get (needs root and a package mirror)" >&2
  if ! { apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; }; then
    echo "error: could not install chromium; install it yourself (apt-get install chromium) or set CHROMIUM=/path/to/chrome" >&2
    exit 1
  fi
  CHROMIUM=$(command -v chromium)
fi

scripts/ensure-onnxruntime.sh
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/iamm-pipe
"$BIN" run viewer "$@"
DIR=$("$BIN" show viewer --json "$@" | python3 -c 'import json, sys; print(json.load(sys.stdin)["dir"])')
PAGE="$DIR/viewer.html"
if [ ! -f "$PAGE" ]; then
  echo "error: no viewer.html in the viewer artifact ($DIR)" >&2
  exit 1
fi

mkdir -p "$(dirname "$OUT")"
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
# A fresh profile keeps the user's browser state out; the window is the screenshot's size.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
  --user-data-dir="$PROFILE" --window-size="$WIDTH,$HEIGHT" \
  --screenshot="$PWD/$OUT" "file://$PAGE" 2>/dev/null
BYTES=$(stat -c %s "$OUT")
echo "wrote $OUT ($BYTES bytes, ${WIDTH}x${HEIGHT}) from $PAGE"
if [ "$BYTES" -gt 500000 ]; then
  echo "warning: $OUT is over 500 KB; use a smaller HEIGHT or WIDTH before committing it" >&2
fi
