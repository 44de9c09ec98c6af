#!/usr/bin/env bash
# The seed's experiment on one machine: throughput and p95 latency against concurrent users, with
# batching off (batches of 1) and on (batches of up to 8), with 1 and 2 workers, each worker in
# its own GPU-node process (muse-node --role=gpu) behind a gateway (--role=gateway). Closed-loop
# users send Fast (25-step) requests for the built-in model; one chart per run, made by plot.py.
#
# Usage: tools/bench/seed_experiment.sh [USERS] [DURATION] [MODEL]
#   USERS    comma-separated user counts (default 1,5,10,25,50,100,300)
#   DURATION measured time per point after a 2 s warm-up (default 8s)
#   MODEL    model folder (default model/weights/muse-tiny)
# Needs a build in build/ (tools/build.sh). Results: $MUSE_BENCH_OUT (default
# /tmp/muse-seed-experiment): one muse-bench JSON per point and seed-experiment.svg.
#
# The settings run and the model's placement come from the environment (defaults: the CPU run):
#   MUSE_SEED_BATCHES  batch sizes, "batching off" being 1          (default "1 8")
#   MUSE_SEED_WORKERS  worker counts, one GPU-node process each      (default "1 2")
#   MUSE_SEED_DEVICE   cpu or cuda:N; every worker uses it           (default cpu)
#   MUSE_SEED_DTYPE    float32, float16 or bfloat16                  (default float32)
#   MUSE_SEED_SIZE     WxH of every image                            (default: the model's own)
#   MUSE_SEED_TITLE    the chart's title
# The GPU half: MUSE_SEED_WORKERS=1 MUSE_SEED_DEVICE=cuda:0 MUSE_SEED_DTYPE=float16
#   MUSE_SEED_SIZE=512x512 tools/bench/seed_experiment.sh 1,5,10,25,50,100,300 30s DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
users=${1:-1,5,10,25,50,100,300}
duration=${2:-8s}
model=$(realpath "${3:-model/weights/muse-tiny}")
build=${MUSE_BUILD_DIR:-build}
out=${MUSE_BENCH_OUT:-/tmp/muse-seed-experiment}
mkdir -p "$out"
cores=$(nproc)
batches=${MUSE_SEED_BATCHES:-1 8}
worker_counts=${MUSE_SEED_WORKERS:-1 2}
device=${MUSE_SEED_DEVICE:-cpu}
dtype=${MUSE_SEED_DTYPE:-float32}
size=${MUSE_SEED_SIZE:-}
title=${MUSE_SEED_TITLE:-Built-in model, $cores CPU cores: throughput and p95 latency against users}
size_args=()
[ -z "$size" ] || size_args=(--size "$size")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap stop_all EXIT

for batch in $batches; do
  for workers in $worker_counts; do
    label="batch $batch, $workers worker$([ "$workers" = 1 ] || echo s)"
    dir="$out/b$batch-w$workers"
    mkdir -p "$dir"
    nodes=""
    for n in $(seq 1 "$workers"); do
      nodes+="${nodes:+,}{\"name\":\"gpu-$n\",\"host\":\"127.0.0.1\",\"port\":$(free_port),\"devices\":[\"$device\"],\"slots_per_device\":1}"
    done
    # The cores are shared out between the workers so that two workers do not oversubscribe them.
    cat >"$dir/config.json" <<JSON
{
  "gateway": { "host": "127.0.0.1", "http_port": 0, "cluster_port": $(free_port),
               "request_timeout_s": 600, "max_connections": 2048,
               "max_connections_per_client": 2048 },
  "gpu_nodes": [ $nodes ],
  "model": { "path": "$model", "dtype": "$dtype", "intra_op_threads": $((cores / workers > 0 ? cores / workers : 1)) },
  "batching": { "max_batch_size": $batch, "max_wait_ms": 50, "max_queue": 5000, "step_level": true },
  "autoscale": { "min_workers": $workers, "max_workers": $workers }
}
JSON
    for n in $(seq 1 "$workers"); do
      "$build/muse-node" --role=gpu --config "$dir/config.json" --node "gpu-$n" >"$dir/gpu-$n.log" 2>&1 &
      pids+=($!)
    done
    "$build/muse-node" --role=gateway --config "$dir/config.json" >"$dir/gateway.log" 2>&1 &
    pids+=($!)
    url=""
    for _ in $(seq 1 600); do
      url=$(grep -o 'listening on http://[0-9.:]*' "$dir/gateway.log" | head -n 1 | cut -d' ' -f3 || true)
      if [ -n "$url" ]; then
        ready=$(curl -fs "$url/api/v1/stats" 2>/dev/null |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"]["ready"])' 2>/dev/null || echo 0)
        [ "$ready" = "$workers" ] && break
      fi
      sleep 0.2
    done
    [ "${ready:-0}" = "$workers" ] || { echo "$label: workers did not start; see $dir" >&2; exit 1; }
    for u in ${users//,/ }; do
      "$build/muse-bench" --url "$url" --users "$u" --warmup 2s --duration "$duration" \
          --quality fast "${size_args[@]}" --prompt "red apple" --prompt "grinning face" --prompt "rocket" \
          --timeout 600s --label "$label" --json "$dir/u$u.json" >"$dir/u$u.txt"
      python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], "users", sys.argv[3], "->", round(d["throughput"]["images_per_s"],2), "images/s, p95", round(d["latency_ms"]["p95"]), "ms, failed", d["requests"]["failed"])' \
          "$dir/u$u.json" "$label" "$u"
    done
    stop_all
  done
done
python3 tools/bench/plot.py --title "$title" \
    --throughput images -o "$out/seed-experiment.svg" "$out"/b*-w*/u*.json
echo "chart: $out/seed-experiment.svg"
