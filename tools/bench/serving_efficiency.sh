#!/usr/bin/env bash
# Serving efficiency: images/s through the whole stack (HTTP, actors, batching) at saturation,
# over the raw pipeline's images/s (muse-generate) at the same batch size, both in this one run.
# The raw pipeline runs just before and just after the stack, each time for about as long as the
# stack's measured window, and the efficiency is taken against the mean of the two: a noisy
# machine then weighs on both sides alike.
#
# Usage: tools/bench/serving_efficiency.sh [CONFIG] [USERS] [DURATION]
#   CONFIG   deployment config (default cluster_config/local.json; its model and batching apply)
#   USERS    closed-loop users (default 4 x batching.max_batch_size)
#   DURATION measured time (default 30s)
# Needs a build in build/ (tools/build.sh). Prints one JSON line; keeps the raw outputs in
# $MUSE_BENCH_OUT (default /tmp/muse-serving-efficiency).
# These override the config's model for both sides (e.g. the GPU figure in one command):
#   MUSE_EFF_MODEL      model path             MUSE_EFF_DEVICE     cpu or cuda:N (every slot)
#   MUSE_EFF_DTYPE      float32|float16|...    MUSE_EFF_SIZE       WxH of every image
#   MUSE_EFF_SCHEDULER  scheduler name         MUSE_EFF_WORKERS    workers (slots on the first node)
# e.g. MUSE_EFF_MODEL=/tmp/sd15 MUSE_EFF_DEVICE=cuda:0 MUSE_EFF_DTYPE=float16 MUSE_EFF_SIZE=512x512 MUSE_EFF_WORKERS=1 \
#      tools/bench/serving_efficiency.sh cluster_config/local.json 32 30s
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-cluster_config/local.json}
build=${MUSE_BUILD_DIR:-build}
out=${MUSE_BENCH_OUT:-/tmp/muse-serving-efficiency}
mkdir -p "$out"

effective="$out/effective.json"
"$build/muse-node" --check-config "$config" >"$out/checked.json"
python3 - "$out/checked.json" "$effective" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
m = c["model"]
m["path"] = os.environ.get("MUSE_EFF_MODEL", m["path"])
m["dtype"] = os.environ.get("MUSE_EFF_DTYPE", m["dtype"])
m["scheduler"] = os.environ.get("MUSE_EFF_SCHEDULER", m["scheduler"])
if os.environ.get("MUSE_EFF_SIZE"):
    m["width"], m["height"] = (int(v) for v in os.environ["MUSE_EFF_SIZE"].split("x"))
if os.environ.get("MUSE_EFF_DEVICE"):
    for node in c["gpu_nodes"]:
        node["devices"] = [os.environ["MUSE_EFF_DEVICE"]]
if os.environ.get("MUSE_EFF_WORKERS"):
    workers = int(os.environ["MUSE_EFF_WORKERS"])
    c["gpu_nodes"] = c["gpu_nodes"][:1]
    c["gpu_nodes"][0]["slots_per_device"] = workers
    c["autoscale"]["min_workers"] = c["autoscale"]["max_workers"] = workers
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
config="$effective"
read -r model batch steps device dtype scheduler width height < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
m = c["model"]
print(m["path"], c["batching"]["max_batch_size"], m["fast_steps"], c["gpu_nodes"][0]["devices"][0],
      m["dtype"], m["scheduler"], m["width"], m["height"])' "$effective")
users=${2:-$((4 * batch))}
duration=${3:-30s}

# The load's prompts, for muse-bench and muse-generate alike.
prompt_args=(--prompt "red apple" --prompt "grinning face" --prompt "rocket")

# The raw pipeline: REPEAT batches into OUTPUT (the JSON summary line).
raw() {
  "$build/muse-generate" --model "$model" "${prompt_args[@]}" --steps "$steps" --batch "$batch" \
      --device "$device" --dtype "$dtype" --scheduler "$scheduler" --width "$width" --height "$height" \
      --repeat "$1" --json --output "$out/raw.png" | tail -n 1 >"$2"
}
# How many batches take about `duration`, from a short first run.
raw 2 "$out/raw-calibration.json"
repeat=$(python3 -c '
import json, re, sys
value, unit = re.fullmatch(r"([0-9.]+)(ms|s|m)", sys.argv[1]).groups()
seconds = float(value) * {"ms": 0.001, "s": 1, "m": 60}[unit]
print(max(3, int(seconds * 1000 / json.load(open(sys.argv[2]))["total_ms"])))' "$duration" "$out/raw-calibration.json")
raw "$repeat" "$out/raw-before.json"

"$build/muse-node" --role=all --config "$config" --http-port 0 >"$out/node.log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$out/node.log" | head -n 1 | cut -d' ' -f3 || true)
  [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
[ -n "$url" ] || { echo "muse-node did not start; see $out/node.log" >&2; exit 1; }

"$build/muse-bench" --url "$url" --users "$users" --warmup 5s --duration "$duration" \
    --quality fast "${prompt_args[@]}" --json "$out/stack.json" >"$out/stack.txt"
kill $node; wait $node 2>/dev/null || true
trap - EXIT
raw "$repeat" "$out/raw-after.json"


python3 - "$out/stack.json" "$out/raw-before.json" "$out/raw-after.json" "$batch" "$users" <<'PY'
import json, sys
stack = json.load(open(sys.argv[1]))
before, after = (json.loads(open(p).read())["images_per_s"] for p in sys.argv[2:4])
raw = (before + after) / 2
stack_ips = stack["throughput"]["images_per_s"]
print(json.dumps({"batch": int(sys.argv[4]), "users": int(sys.argv[5]),
                  "stack_images_per_s": round(stack_ips, 3),
                  "raw_images_per_s": round(raw, 3),
                  "raw_before": round(before, 3), "raw_after": round(after, 3),
                  "efficiency": round(stack_ips / raw, 3),
                  "stack_errors": stack["requests"]["failed"],
                  "stack_latency_ms": stack["latency_ms"]}))
PY
