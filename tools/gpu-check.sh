#!/usr/bin/env bash
# The GPU checks, in one command on a machine with an NVIDIA GPU and a CUDA PyTorch: builds the
# GPU tests (tests/gpu) against PyTorch's libtorch and runs them: the fused kernels against
# libtorch's ops, the CUDA engine (graphs, channels_last, fused kernels) against eager libtorch,
# and both against diffusers' outputs (the CPU float32 references and the float16 ones made on a
# GPU, in tests/data/reference). See docs/cuda.md.
#
# Usage: tools/gpu-check.sh [Catch2 arguments, e.g. "[fused]"]
# Needs: the project's build dependencies where CMake finds them (on a host without Debian's
# archive, a .deps/usr made by bundle-deps.sh; MUSE_DEPS_PREFIX names another).
set -euo pipefail
cd "$(dirname "$0")/.."
deps=${MUSE_DEPS_PREFIX:-$PWD/.deps/usr}
build=${MUSE_BUILD_DIR:-build-cuda}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMUSE_BUILD_TESTS=ON \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" >"$build-configure.log" ||
  { cat "$build-configure.log"; exit 1; }
cmake --build "$build" --target gpu_tests muse-generate
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
"./$build/gpu_tests" "$@"
