#!/usr/bin/env bash
# Every policy against every trace at 10, 100 and 1,000 GPUs, then one SVG per trace (p95 latency
# and throughput against the trace's peak rate, a line per policy) with tools/bench/plot.py.
# Usage: tools/sim/sweep.sh OUT_DIR [more muse-sim options, e.g. --interval-s 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: tools/sim/sweep.sh OUT_DIR [muse-sim options]}
shift
build_dir=${MUSE_BUILD_DIR:-build}
mkdir -p "$out"
"$build_dir/muse-sim" --policies seed,queue_threshold,capacity,full_batch,oracle --out "$out" "$@" \
  | tee "$out/table.md"
for dir in "$out"/plot/*/; do
  name=$(basename "$dir")
  python3 tools/bench/plot.py "$dir"*.json -o "$out/sim-$name.svg" --x-scale log \
    --title "muse-sim, $name trace: x = peak requests/s (10, 100, 1,000 GPUs)"
done
