#!/usr/bin/env bash
# How the CPU deployment's threading holds up when the machine is shared: images/s through the
# whole stack (muse-node --role=all, muse-bench closed loop) for several worker/thread layouts,
# each measured alone and beside busy processes (one busy loop per core), alternated round by
# round so that every layout sees the same machine. Prints one line per run and, per layout, the
# median images/s idle and busy, and the busy/idle ratio (median, min, max over the rounds).
#
# Usage: tools/bench/cpu_contention.sh [ROUNDS] [DURATION] [CONFIG]
#   ROUNDS   rounds; each runs every layout idle and busy (default 3)
#   DURATION measured time per run after a 3 s warm-up (default 10s)
#   CONFIG   the deployment whose model and batching apply (default cluster_config/local.json)
# Layouts (MUSE_CONTENTION_LAYOUTS, space-separated WORKERSxTHREADS[:passive], default
# "1x0 1x0:passive 1x1 2x1"): WORKERS worker slots on the cpu in one process, THREADS its
# model.intra_op_threads (0 = one per core), ":passive" runs muse-node with
# OMP_WAIT_POLICY=passive. MUSE_CONTENTION_BUSY: busy processes beside it (default: one per core).
# MUSE_CONTENTION_USERS: closed-loop users (default 16: full batches of 8 on two workers).
# Each line also has the 1-minute load average at the end of the run (the machine may be shared).
# Needs a build in build/ (tools/build.sh). Raw JSON lines: $MUSE_BENCH_OUT (default
# /tmp/muse-cpu-contention)/runs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
duration=${2:-10s}
config=${3:-cluster_config/local.json}
build=${MUSE_BUILD_DIR:-build}
out=${MUSE_BENCH_OUT:-/tmp/muse-cpu-contention}
layouts=${MUSE_CONTENTION_LAYOUTS:-1x0 1x0:passive 1x1 2x1}
busy_count=${MUSE_CONTENTION_BUSY:-$(nproc)}
users=${MUSE_CONTENTION_USERS:-16}
mkdir -p "$out"
: >"$out/runs.jsonl"
"$build/muse-node" --check-config "$config" >"$out/effective.json"
config_dir=$(dirname "$(realpath "$config")")

node=""
busy=()
stop_all() {
  [ -z "$node" ] || { kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; }
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  node=""
  busy=()
}
trap stop_all EXIT

# One layout's config: WORKERS slots on the cpu (all started at once), THREADS per process.
layout_config() {
  python3 - "$out/effective.json" "$config_dir" "$1" "$2" <<'PY'
import json, os, socket, sys
c = json.load(open(sys.argv[1]))
s = socket.socket(); s.bind(("127.0.0.1", 0)); c["gateway"]["cluster_port"] = s.getsockname()[1]; s.close()
workers, threads = int(sys.argv[3]), int(sys.argv[4])
c["model"]["path"] = os.path.join(sys.argv[2], c["model"]["path"])
c["gateway"]["http_port"] = 0
c["gateway"]["max_connections"] = 2048
c["gpu_nodes"] = [dict(c["gpu_nodes"][0], devices=["cpu"], slots_per_device=workers)]
c["model"]["intra_op_threads"] = threads
c["autoscale"]["min_workers"] = c["autoscale"]["max_workers"] = workers
print(json.dumps(c, indent=2))
PY
}

# One run: LAYOUT, BUSY (0 or 1), ROUND.
run() {
  local layout=$1 with_busy=$2 round=$3
  local shape=${layout%%:*} workers threads env_args=()
  workers=${shape%x*}
  threads=${shape#*x}
  [[ $layout == *:passive ]] && env_args=(OMP_WAIT_POLICY=passive)
  layout_config "$workers" "$threads" >"$out/config.json"
  env "${env_args[@]}" "$build/muse-node" --role=all --config "$out/config.json" --http-port 0 \
      >"$out/node.log" 2>&1 &
  node=$!
  local url="" ready=0
  for _ in $(seq 1 600); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$out/node.log" | head -n 1 | cut -d' ' -f3 || true)
    if [ -n "$url" ]; then
      ready=$(curl -fs "$url/api/v1/stats" 2>/dev/null |
              python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"]["ready"])' 2>/dev/null || echo 0)
      [ "$ready" = "$workers" ] && break
    fi
    sleep 0.2
  done
  [ "$ready" = "$workers" ] || { echo "$layout: workers did not start; see $out/node.log" >&2; exit 1; }
  if [ "$with_busy" = 1 ]; then
    for _ in $(seq 1 "$busy_count"); do
      timeout 600 sh -c 'while :; do :; done' &
      busy+=($!)
    done
  fi
  # No response inside the window is a figure too (0 images/s): a collapsed layout fails every
  # measured request within --timeout, and muse-bench then exits 1.
  "$build/muse-bench" --url "$url" --users "$users" --warmup 3s --duration "$duration" \
      --timeout 60s --quality fast --prompt "red apple" --prompt "grinning face" --prompt "rocket" \
      --json "$out/bench.json" >"$out/bench.txt" || true
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  stop_all
  python3 - "$out/bench.json" "$layout" "$with_busy" "$round" "$busy_count" "$out/runs.jsonl" "$load" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
run = {"layout": sys.argv[2], "busy": int(sys.argv[3]) * int(sys.argv[5]), "round": int(sys.argv[4]),
       "images_per_s": round(d["throughput"]["images_per_s"], 2),
       "failed": d["requests"]["failed"], "p50_ms": round(d["latency_ms"].get("p50", 0)),
       "loadavg_1m": float(sys.argv[7])}
open(sys.argv[6], "a").write(json.dumps(run) + "\n")
print("round %(round)d %(layout)s busy %(busy)d: %(images_per_s).2f images/s, p50 %(p50_ms)d ms, "
      "failed %(failed)d, load average %(loadavg_1m).2f" % run)
PY
}

for r in $(seq 1 "$rounds"); do
  # The busy half first in even rounds, so neither half always follows the other.
  halves="0 1"
  [ $((r % 2)) = 0 ] && halves="1 0"
  for half in $halves; do
    for layout in $layouts; do run "$layout" "$half" "$r"; done
  done
done

python3 - "$out/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for layout in dict.fromkeys(r["layout"] for r in runs):
    idle = {r["round"]: r["images_per_s"] for r in runs if r["layout"] == layout and not r["busy"]}
    busy = {r["round"]: r["images_per_s"] for r in runs if r["layout"] == layout and r["busy"]}
    ratios = [busy[k] / idle[k] for k in sorted(idle) if k in busy and idle[k] > 0]
    print(json.dumps({"layout": layout,
                      "idle_median": round(statistics.median(idle.values()), 2),
                      "idle_min": min(idle.values()), "idle_max": max(idle.values()),
                      "busy_median": round(statistics.median(busy.values()), 2),
                      "busy_min": min(busy.values()), "busy_max": max(busy.values()),
                      "ratio_median": round(statistics.median(ratios), 2),
                      "ratio_min": round(min(ratios), 2), "ratio_max": round(max(ratios), 2)}))
PY
