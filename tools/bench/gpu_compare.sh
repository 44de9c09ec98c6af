#!/usr/bin/env bash
# The GPU comparison: builds muse-generate against the libtorch of the local PyTorch install,
# makes a Stable Diffusion 1.5- or XL-sized pipeline with random weights (fp16), and times, one
# after the other in this one run on the same GPU and files, at the model's native size (512x512,
# SDXL 1024x1024), DDIM, guidance 7.5:
#   diffusers           PyTorch eager (default attention)
#   diffusers-compiled  the speed recipe a Python user turns on: UNet and VAE channels_last,
#                       fuse_qkv_projections(), torch.compile(unet, mode="reduce-overhead")
#   muse                muse-generate (CUDA graphs, channels_last and fused kernels on)
# One JSON line per (implementation, batch) in OUT_DIR/<impl>.jsonl.
#
# Usage: tools/bench/gpu_compare.sh OUT_DIR [BATCHES] [STEPS]   (lists: 1,4,8,16 and 25,50)
#   MUSE_COMPARE       which implementations, in order (default "muse diffusers-compiled diffusers")
#   MUSE_ARCH          sd15 (default) or sdxl
#   MUSE_MODEL_DIR     where the random pipeline is (made there if absent; default /tmp/<arch>-random;
#                      MUSE_SD15_DIR is read too)
#   MUSE_GENERATE_ARGS extra muse-generate flags (e.g. "--cuda-graphs off")
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

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" >"$out/cmake.log"
cmake --build "$build" --target muse-generate >>"$out/cmake.log"
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

arch=${MUSE_ARCH:-sd15}
case "$arch" in
sd15) size=512 ;;
sdxl) size=1024 ;;
*) echo "MUSE_ARCH must be sd15 or sdxl, got $arch" >&2; exit 2 ;;
esac
model=${MUSE_MODEL_DIR:-${MUSE_SD15_DIR:-/tmp/$arch-random}}
[ -f "$model/model_index.json" ] ||
  python3 tools/bench/random_pipeline.py make "$model" --arch "$arch" --tokenizer tests/data/tiny-sd/tokenizer
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"

for impl in ${MUSE_COMPARE:-muse diffusers-compiled diffusers}; do
  case "$impl" in
  muse)
    : >"$out/muse.jsonl"
    for b in ${batches//,/ }; do
      for s in ${steps//,/ }; do
        # shellcheck disable=SC2086
        "./$build/muse-generate" --model "$model" --prompt "a photograph of an astronaut riding a horse" \
            --device cuda:0 --dtype float16 --width "$size" --height "$size" --steps "$s" --batch "$b" \
            --repeat 3 --scheduler ddim --json --output "/tmp/muse-b$b.png" ${MUSE_GENERATE_ARGS:-} |
          tail -n 1 | tee -a "$out/muse.jsonl"
      done
    done
    ;;
  diffusers) python3 tools/bench/random_pipeline.py bench "$model" --batches "$batches" --steps "$steps" |
      tee "$out/diffusers.jsonl" ;;
  diffusers-compiled) python3 tools/bench/random_pipeline.py bench "$model" --compiled --batches "$batches" \
      --steps "$steps" | tee "$out/diffusers-compiled.jsonl" ;;
  *) echo "unknown implementation $impl" >&2; exit 2 ;;
  esac
done
