#!/usr/bin/env bash
# The serving stack's own ceiling: muse-node with the benchmark-only zero-compute model stage
# (model.type "benchmark_zero_compute": no model, blank images at once), driven by muse-bench on
# the same machine. Three runs: one user (the latency the stack adds), USERS users (requests/s),
# and CONNECTIONS users (connections held at once).
#
# Usage: tools/bench/stack_ceiling.sh [USERS] [CONNECTIONS] [DURATION]   (default 64 5000 10s)
# Needs a build in build/ (tools/build.sh). Results in $MUSE_BENCH_OUT (default
# /tmp/muse-stack-ceiling): one muse-bench JSON per run, and a summary line on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
users=${1:-64}
connections=${2:-5000}
duration=${3:-10s}
build=${MUSE_BUILD_DIR:-build}
out=${MUSE_BENCH_OUT:-/tmp/muse-stack-ceiling}
mkdir -p "$out"
ulimit -n "$((connections * 2 + 1024))"

cat >"$out/config.json" <<JSON
{
  "gateway": { "host": "127.0.0.1", "http_port": 0, "http_threads": 2, "request_timeout_s": 60,
               "max_connections": $((connections + 100)),
               "max_connections_per_client": $((connections + 100)) },
  "model": { "type": "benchmark_zero_compute", "path": "none", "width": 64, "height": 64 },
  "batching": { "max_batch_size": 64, "max_wait_ms": 0, "max_queue": 100000, "step_level": true },
  "autoscale": { "min_workers": 1, "max_workers": 1 }
}
JSON
"$build/muse-node" --role=all --config "$out/config.json" >"$out/node.log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$out/node.log" | head -n 1 | cut -d' ' -f3 || true)
  [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
[ -n "$url" ] || { echo "muse-node did not start; see $out/node.log" >&2; exit 1; }

run() {  # name users
  "$build/muse-bench" --url "$url" --users "$2" --warmup 2s --duration "$duration" --steps 1 \
      --prompt "a red circle" --timeout 60s --json "$out/$1.json" >"$out/$1.txt"
}
run one-user 1
run throughput "$users"
run connections "$connections"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def load(name): return json.load(open(f"{out}/{name}.json"))
one, many, conns = load("one-user"), load("throughput"), load("connections")
print(json.dumps({
  "added_latency_p50_ms": round(one["latency_ms"]["p50"], 3),
  "added_latency_p99_ms": round(one["latency_ms"]["p99"], 3),
  "requests_per_s": round(many["throughput"]["requests_per_s"], 1),
  "requests_per_s_p50_ms": round(many["latency_ms"]["p50"], 3),
  "connections": conns["settings"].get("users"),
  "connections_requests_per_s": round(conns["throughput"]["requests_per_s"], 1),
  "connections_failed": conns["requests"]["failed"],
}))
PY
