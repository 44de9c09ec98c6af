#!/usr/bin/env bash
# The GPU comparison: builds muse-generate against the libtorch of the local PyTorch install,
# makes a Stable Diffusion 1.5-sized pipeline with random weights (fp16), and times diffusers
# (PyTorch eager, default attention) and the C++ pipeline on it, one after the other in this one
# run, at 512x512 with classifier-free guidance. One JSON line per (implementation, batch).
#
# Usage: tools/bench/gpu_compare.sh OUT_DIR [BATCHES] [STEPS]
# Needs: a CUDA PyTorch with transformers, diffusers' source on PYTHONPATH, and the project's
# build dependencies (on a host without Debian's archive: CMAKE_PREFIX_PATH/.deps, see docs/cuda.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: gpu_compare.sh OUT_DIR [BATCHES] [STEPS]}
batches=${2:-1,4,8,16}
steps=${3:-25}
mkdir -p "$out"
deps=${MUSE_DEPS_PREFIX:-$PWD/.deps/usr}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
build=${MUSE_BUILD_DIR:-build-cuda}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMUSE_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" >"$out/cmake.log"
cmake --build "$build" --target muse-generate >>"$out/cmake.log"
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

model=${MUSE_SD15_DIR:-/tmp/sd15-random}
[ -f "$model/model_index.json" ] ||
  python3 tools/bench/sd15_random.py make "$model" --tokenizer tests/data/tiny-sd/tokenizer
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"

python3 tools/bench/sd15_random.py bench "$model" --batches "$batches" --steps "$steps" |
  tee "$out/diffusers.jsonl"
: >"$out/muse.jsonl"
for b in ${batches//,/ }; do
  "./$build/muse-generate" --model "$model" --prompt "a photograph of an astronaut riding a horse" \
      --device cuda:0 --dtype float16 --width 512 --height 512 --steps "$steps" --batch "$b" \
      --repeat 3 --scheduler ddim --json --output "/tmp/muse-b$b.png" | tail -n 1 | tee -a "$out/muse.jsonl"
done
