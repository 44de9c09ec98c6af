#!/usr/bin/env bash
# A 50/50 Fast/Quality mix through the whole stack, two muse-node builds side by side in one run
# (e.g. before and after a change to batching): throughput at saturation (closed loop), then p95
# latency at half load (open loop at half the first build's saturation rate of the same round, so
# both builds see the same arrivals). The builds alternate order round by round.
#
# Usage: tools/bench/step_mix.sh NODE_A NODE_B [ROUNDS] [DURATION] [USERS] [CONFIG]
#   NODE_A, NODE_B  muse-node binaries (NODE_A sets the half-load rate: the baseline)
#   ROUNDS          rounds of four runs (default 2)
#   DURATION        measured time of each run (default 20s; 5 s warm-up before it)
#   USERS           closed-loop users at saturation (default 4 x batching.max_batch_size)
#   CONFIG          deployment config (default cluster_config/local.json)
# Needs muse-bench in build/ (tools/build.sh). Prints one JSON line per run and a summary line;
# keeps every muse-bench result in $MUSE_BENCH_OUT (default /tmp/muse-step-mix).
set -euo pipefail
cd "$(dirname "$0")/../.."
node_a=$(realpath "$1")
node_b=$(realpath "$2")
rounds=${3:-2}
duration=${4:-20s}
config=${6:-cluster_config/local.json}
build=${MUSE_BUILD_DIR:-build}
out=${MUSE_BENCH_OUT:-/tmp/muse-step-mix}
mkdir -p "$out"
batch=$("$node_b" --check-config "$config" | python3 -c 'import json,sys; print(json.load(sys.stdin)["batching"]["max_batch_size"])')
users=${5:-$((4 * batch))}
mix=(--quality fast --quality quality --prompt "red apple" --prompt "grinning face" --prompt "rocket")

node=""
stop_node() {
  if [ -n "$node" ]; then
    kill "$node" 2>/dev/null || true
    wait "$node" 2>/dev/null || true
    node=""
  fi
}
trap stop_node EXIT

# Starts BINARY on CONFIG on a free port; sets $node and $url.
start_node() {
  "$1" --role=all --config "$config" --http-port 0 >"$out/node-$2.log" 2>&1 &
  node=$!
  url=""
  for _ in $(seq 1 300); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$out/node-$2.log" | head -n 1 | cut -d' ' -f3 || true)
    [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "muse-node did not start; see $out/node-$2.log" >&2
  exit 1
}

# One run: NAME BINARY then muse-bench's load options; prints the run's JSON line.
run() {
  local name=$1 binary=$2
  shift 2
  start_node "$binary" "$name"
  "$build/muse-bench" --url "$url" --warmup 5s --duration "$duration" --timeout 120s "${mix[@]}" \
      --label "$name" --json "$out/$name.json" "$@" >"$out/$name.txt"
  stop_node
  python3 - "$out/$name.json" "$name" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"run": sys.argv[2], "images_per_s": round(r["throughput"]["images_per_s"], 3),
                  "ok": r["requests"]["ok"], "failed": r["requests"]["failed"],
                  "p50_ms": r["latency_ms"].get("p50"), "p95_ms": r["latency_ms"].get("p95"),
                  "load_avg_1m": float(sys.argv[3])}))
PY
}

rate_of() {
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["throughput"]["requests_per_s"] / 2, 3))' "$1"
}

for round in $(seq 1 "$rounds"); do
  order=(a b)
  [ $((round % 2)) -eq 0 ] && order=(b a)
  for side in "${order[@]}"; do
    binary=$node_a
    [ "$side" = b ] && binary=$node_b
    run "r$round-$side-saturation" "$binary" --users "$users" | tee -a "$out/runs.jsonl"
  done
  rate=$(rate_of "$out/r$round-a-saturation.json")
  for side in "${order[@]}"; do
    binary=$node_a
    [ "$side" = b ] && binary=$node_b
    run "r$round-$side-half" "$binary" --rate "$rate" | tee -a "$out/runs.jsonl"
  done
done

python3 - "$out" "$rounds" "$users" <<'PY'
import json, statistics, sys
out, rounds, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    return json.load(open(f"{out}/{name}.json"))
throughput, p95 = [], []
for r in range(1, rounds + 1):
    a, b = load(f"r{r}-a-saturation"), load(f"r{r}-b-saturation")
    throughput.append(b["throughput"]["images_per_s"] / a["throughput"]["images_per_s"])
    a, b = load(f"r{r}-a-half"), load(f"r{r}-b-half")
    p95.append(b["latency_ms"]["p95"] / a["latency_ms"]["p95"])
print(json.dumps({"users": users, "rounds": rounds,
                  "throughput_b_over_a": [round(x, 3) for x in throughput],
                  "throughput_b_over_a_median": round(statistics.median(throughput), 3),
                  "p95_half_load_b_over_a": [round(x, 3) for x in p95],
                  "p95_half_load_b_over_a_median": round(statistics.median(p95), 3)}))
PY
