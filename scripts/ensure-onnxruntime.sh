#!/usr/bin/env bash
# Makes sure an ONNX Runtime shared library the comet stage can load is installed: the
# libonnxruntime.so inside the `onnxruntime` wheel from PyPI (Debian has no package).
# Installs nothing when ORT_DYLIB_PATH or an installed onnxruntime >= 1.31 provides one.
set -euo pipefail
VERSION=1.32.0

if [ -n "${ORT_DYLIB_PATH:-}" ] && [ -f "$ORT_DYLIB_PATH" ]; then
  exit 0
fi
installed=$(python3 - <<'PY'
import glob, importlib.util, os, re
spec = importlib.util.find_spec("onnxruntime")
if spec and spec.submodule_search_locations:
    for lib in glob.glob(os.path.join(spec.submodule_search_locations[0], "capi", "libonnxruntime.so.*")):
        m = re.search(r"\.so\.(\d+)\.(\d+)", lib)
        if m and (int(m.group(1)), int(m.group(2))) >= (1, 31):
            print(lib)
            break
PY
)
if [ -z "$installed" ]; then
  echo "installing ONNX Runtime $VERSION (the onnxruntime wheel, for its shared library)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-deps "onnxruntime==$VERSION"
fi
