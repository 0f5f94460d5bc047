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
# stages/human_eval/tests/print_layout.rs prints an annotator sheet to PDF with LibreOffice
# and reads the PDF back with poppler (about 280 MB installed, under a minute to install).
if ! command -v soffice >/dev/null || ! command -v pdftotext >/dev/null; then
  echo "installing libreoffice-calc-nogui and poppler-utils with apt-get (stages/human_eval/tests/print_layout.rs needs them)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libreoffice-calc-nogui poppler-utils >/dev/null
fi
# tests/tensorboard.rs reads the training logs back with TensorBoard's own reader, and
# tests/k8s.rs checks exported manifests against the Kubernetes schema with kubernetes-validate,
# from a Python venv made once in target/ (pip, from PyPI) and named by IAMM_TEST_PYTHON.
venv=target/test-venv
if ! "$venv/bin/python" -c "import tensorboard, kubernetes_validate" 2>/dev/null; then
  echo "making $venv with TensorBoard and kubernetes-validate (tests/tensorboard.rs, tests/k8s.rs)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tensorboard==2.21.0 kubernetes-validate==1.37.0
fi
export IAMM_TEST_PYTHON="$PWD/$venv/bin/python"
# tests/slurm.rs starts a single-node Slurm cluster of its own with scripts/slurm-local.sh (which
# installs slurm-wlm and munge with apt-get when missing) and stops it when it ends.
cargo test --release --workspace "$@"
