#!/usr/bin/env bash
# What batching buys on this machine: muse-generate at batch 1 and batch 8 (Fast: 25 DDIM steps,
# guidance 7.5), alternated ROUNDS times in this one run so that both see the same machine. The
# batch of 8 holds 8 different prompts (as 8 users' requests would); batch 1 cycles through the
# same prompts round by round. Prints one line per run and the median images/s and ratio.
#
# Usage: tools/bench/batch_speedup.sh [ROUNDS] [MODEL]   (default 5, model/weights/muse-tiny)
# Needs a build in build/ (tools/build.sh). Raw JSON lines: $MUSE_BENCH_OUT (default
# /tmp/muse-batch-speedup)/runs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
model=${2:-model/weights/muse-tiny}
build=${MUSE_BUILD_DIR:-build}
out=${MUSE_BENCH_OUT:-/tmp/muse-batch-speedup}
mkdir -p "$out"
: >"$out/runs.jsonl"
prompts=("red apple" "grinning face" "rocket" "rainbow" "pizza" "snowman" "sunflower" "red heart")
prompt_args=()
for p in "${prompts[@]}"; do prompt_args+=(--prompt "$p"); done

for r in $(seq 1 "$rounds"); do
  for b in 1 8; do
    if [ "$b" = 1 ]; then args=(--prompt "${prompts[$(( (r - 1) % ${#prompts[@]} ))]}"); else args=("${prompt_args[@]}"); fi
    "$build/muse-generate" --model "$model" "${args[@]}" --steps 25 --scheduler ddim --guidance 7.5 \
        --seed "$r" --batch "$b" --repeat 4 --json --output "$out/image.png" | tail -n 1 |
      python3 -c '
import json, sys
d = dict(json.loads(sys.stdin.read()), round=int(sys.argv[1]))
with open(sys.argv[2], "a") as runs:
    runs.write(json.dumps(d) + "\n")
print("round %d batch %d: %.2f images/s (UNet step %.1f ms)" % (d["round"], d["batch"], d["images_per_s"], d["unet_step_ms"]))' "$r" "$out/runs.jsonl"
  done
done
python3 - "$out/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
one = {r["round"]: r["images_per_s"] for r in runs if r["batch"] == 1}
eight = {r["round"]: r["images_per_s"] for r in runs if r["batch"] == 8}
ratios = [eight[k] / one[k] for k in sorted(one) if k in eight]
print(json.dumps({"rounds": len(ratios),
                  "batch1_images_per_s_median": round(statistics.median(one.values()), 2),
                  "batch8_images_per_s_median": round(statistics.median(eight.values()), 2),
                  "ratio_median": round(statistics.median(ratios), 2),
                  "ratio_min": round(min(ratios), 2), "ratio_max": round(max(ratios), 2)}))
PY
