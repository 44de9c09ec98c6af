#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS on a copy of its seed corpus (ctest calls this for each
# target; tools/fuzz.sh says how). Prints the inputs run and libFuzzer's final coverage; fails
# when the target found a crash, a leak, a timeout or ran out of memory, leaving the log and the
# reproducer in WORK_DIR.
# Usage: run_target.sh TARGET_BINARY SEED_CORPUS_DIR WORK_DIR SECONDS
set -uo pipefail
binary=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
log="$work/fuzz.log"
# -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds the whole process.
"$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1
status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
echo "$(basename "$binary"): ${runs:-?} inputs in ${seconds}s, cov: ${cov:-?}," \
  "corpus: $(ls "$work/corpus" | wc -l) files"
if ((status != 0)) || ls "$work/artifacts/"* >/dev/null 2>&1; then
  echo "FAILED (exit $status); log: $log"
  grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
  exit 1
fi
