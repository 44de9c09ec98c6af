#!/usr/bin/env bash
# LoRAs per request on the GPU: one batch of images, each with its own LoRA, against the same
# batch with none. Builds muse-generate against the local PyTorch's libtorch, makes a Stable
# Diffusion 1.5-sized pipeline with random fp16 weights (random_pipeline.py make) and COUNT random
# LoRAs for it (random_pipeline.py loras: rank RANK on every attention projection of the UNet and
# the text encoder), then times at 512x512, DDIM 25 steps, guidance 7.5, fp16, in this one run:
#   none          BATCH images, no LoRA (CUDA graphs, as served)
#   none-eager    the same without CUDA graphs (what any batch with a LoRA runs on)
#   one           BATCH images, all with the same LoRA
#   different     BATCH images, image i with LoRA i (COUNT different LoRAs in one batch)
# One JSON line each (muse-generate --json, plus "case") in OUT_DIR/lora.jsonl.
#
# Usage: tools/bench/lora_batch.sh OUT_DIR [BATCH] [RANK]     (defaults 8 and 32; COUNT = BATCH)
#   MUSE_MODEL_DIR  where the random pipeline is (made there if absent; default /tmp/sd15-random)
# Needs: a CUDA PyTorch with transformers, diffusers' source on PYTHONPATH to make the pipeline,
# and the project's build dependencies (CMAKE_PREFIX_PATH/.deps, see docs/cuda.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: lora_batch.sh OUT_DIR [BATCH] [RANK]}
batch=${2:-8}
rank=${3:-32}
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
loras="$out/loras-r$rank"
python3 tools/bench/random_pipeline.py loras "$model" "$loras" --count "$batch" --rank "$rank"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"

different=()
for ((i = 0; i < batch; i++)); do different+=(--lora "lora-$i"); done
run() {
  local name=$1
  shift
  "./$build/muse-generate" --model "$model" --prompt "a photograph of an astronaut riding a horse" \
      --device cuda:0 --dtype float16 --width 512 --height 512 --steps 25 --batch "$batch" \
      --repeat 3 --scheduler ddim --json --output "$out/$name.png" --lora-dir "$loras" "$@" |
    tail -n 1 | python3 -c "import json, sys; r = json.load(sys.stdin); r['case'] = '$name'; r['lora_rank'] = $rank; print(json.dumps(r))" |
    tee -a "$out/lora.jsonl"
}
: >"$out/lora.jsonl"
run none
run none-eager --cuda-graphs off
run one --lora lora-0
run different "${different[@]}"
