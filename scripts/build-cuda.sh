#!/usr/bin/env bash
# Builds the CUDA binaries (iamm-pipe, the CPU/GPU agreement tests and the training bench) on a
# machine that need not have a GPU or a CUDA toolkit: without `nvcc` on PATH, CUDA 13's
# compiler, headers and libraries come from NVIDIA's wheels on PyPI (about 1 GB unpacked into
# .cuda/), and a stub libcuda.so stands in for the driver at link time (the real one is loaded
# where the binary runs). Kernels are compiled for CUDA_COMPUTE_CAP (default 90: H100/H200).
#
#   scripts/build-cuda.sh            # -> target-cuda/release/iamm-pipe, and the two below
#   target-cuda/release/deps/cuda-*               CPU/GPU agreement tests (run on the GPU machine)
#   target-cuda/release/deps/reference_batches-*  the training bench (`--device cuda`)
#
# The machine that runs them needs the NVIDIA driver and CUDA 13's libcublas, libcublasLt,
# libcurand and libnvrtc on the library path (a CUDA 13 toolkit, or the same wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-cuda}

if ! command -v nvcc >/dev/null; then
  root=$PWD/.cuda
  cuda=$root/nvidia/cu13
  if [ ! -x "$cuda/bin/nvcc" ]; then
    echo "no nvcc on PATH: unpacking CUDA 13 from PyPI wheels into $root" >&2
    wheels=$root/wheels
    mkdir -p "$wheels"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$wheels" \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
      "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*" \
      "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cublas>=13,<14" "nvidia-curand>=10.4,<11"
    for w in "$wheels"/*.whl; do (cd "$root" && python3 -m zipfile -e "$w" .); done
    chmod +x "$cuda"/bin/* "$cuda"/nvvm/bin/*
    # nvcc looks for headers and libraries under targets/x86_64-linux; the linker for lib*.so.
    mkdir -p "$cuda/targets/x86_64-linux" "$cuda/lib/stubs"
    ln -sfn ../../include "$cuda/targets/x86_64-linux/include"
    ln -sfn ../../lib "$cuda/targets/x86_64-linux/lib"
    for l in cublas cublasLt curand nvrtc cudart; do
      ln -sfn "$(cd "$cuda/lib" && ls lib$l.so.* | grep -v alt | head -1)" "$cuda/lib/lib$l.so"
    done
    # The driver API exists only where a driver is installed: link against empty functions of
    # the same names (every cu* function cudarc declares), named libcuda.so.1 like the driver.
    sys=$(cargo metadata --format-version 1 --features iamm-train/cuda | python3 -c \
      'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="cudarc"))')
    grep -ohE "pub unsafe fn cu[A-Za-z0-9_]+\(" "$(dirname "$sys")/src/driver/sys/mod.rs" \
      | sed -E 's/pub unsafe fn (\w+)\(/void \1(void){}/' | sort -u > "$root/cuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cuda/lib/stubs/libcuda.so" "$root/cuda_stub.c"
  fi
  export CUDA_HOME=$cuda PATH=$cuda/bin:$PATH
fi

cargo build --release --features iamm-train/cuda --bin iamm-pipe
cargo test --release -p iamm-train --features cuda --test cuda --no-run
cargo bench -p iamm-train --features cuda --bench reference_batches --no-run
echo "built into $CARGO_TARGET_DIR/release" >&2
