#!/usr/bin/env bash
# What live previews cost the worker on the GPU: the same batch with none, with a preview every
# 3 steps (what a 25-step job with `previews: true` asks: about ten per image) and with one every
# step. Builds muse-generate against the local PyTorch's libtorch, makes a Stable Diffusion
# 1.5-sized pipeline with random fp16 weights (random_pipeline.py make), then times at 512x512,
# DDIM 25 steps, guidance 7.5, fp16, CUDA graphs on, batch 1 and BATCH, in this one run. A preview
# is the predicted clean latents projected to RGB and encoded as a PNG, as the worker does it
# (muse-generate --preview-every). One JSON line each (muse-generate --json, plus "case") in
# OUT_DIR/preview.jsonl.
#
# Usage: tools/bench/preview_cost.sh OUT_DIR [BATCH]     (default 8)
#   MUSE_MODEL_DIR  where the random pipeline is (made there if absent; default /tmp/sd15-random)
# Needs: a CUDA PyTorch with transformers, diffusers' source on PYTHONPATH to make the pipeline,
# and the project's build dependencies (CMAKE_PREFIX_PATH/.deps, see docs/cuda.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: preview_cost.sh OUT_DIR [BATCH]}
batch=${2:-8}
mkdir -p "$out"
deps=${MUSE_DEPS_PREFIX:-$PWD/.deps/usr}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
build=${MUSE_BUILD_DIR:-build-cuda}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" >"$out/cmake.log"
cmake --build "$build" --target muse-generate >>"$out/cmake.log"
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

model=${MUSE_MODEL_DIR:-/tmp/sd15-random}
[ -f "$model/model_index.json" ] ||
  python3 tools/bench/random_pipeline.py make "$model" --arch sd15 --tokenizer tests/data/tiny-sd/tokenizer
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"

run() {
  local name=$1 images=$2 every=$3
  "./$build/muse-generate" --model "$model" --prompt "a photograph of an astronaut riding a horse" \
      --device cuda:0 --dtype float16 --width 512 --height 512 --steps 25 --batch "$images" \
      --repeat 4 --scheduler ddim --json --output "$out/$name.png" --preview-every "$every" |
    tail -n 1 | python3 -c "import json, sys; r = json.load(sys.stdin); r['case'] = '$name'; print(json.dumps(r))" |
    tee -a "$out/preview.jsonl"
}
: >"$out/preview.jsonl"
for images in 1 "$batch"; do
  run "b$images-none" "$images" 0
  run "b$images-every-3" "$images" 3
  run "b$images-every-step" "$images" 1
done
