#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into build-fuzz/ and runs
# each for SECONDS_PER_TARGET seconds on a copy of its seed corpus, one after another. Prints
# per target the inputs run and the coverage libFuzzer ended with; exits non-zero when any target
# found a crash, a leak, a timeout or ran out of memory (its reproducer is left in build-fuzz/).
# Usage: tools/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build_dir=${MUSE_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${MUSE_JOBS:-2}

# clang and its runtime libraries (libFuzzer, the sanitizers): only what is missing.
packages=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "fuzz: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMUSE_FUZZ=ON -DMUSE_BUILD_TESTS=OFF
fi
cmake --build "$build_dir" --target fuzz_targets -j "$jobs"

targets=(json_body generate_request openai_request slack_command config)
failed=()
summary=()
for name in "${targets[@]}"; do
  work="$build_dir/fuzz-run/$name"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
  log="$work/fuzz.log"
  echo "fuzz: $name for ${seconds}s"
  status=0
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds the whole process.
  "$build_dir/${name}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  line=$(printf '%-18s %12s inputs  cov: %-6s corpus: %s files' "$name" "${runs:-?}" "${cov:-?}" \
    "$(ls "$work/corpus" | wc -l)")
  if ((status != 0)) || ls "$work/artifacts/"* >/dev/null 2>&1; then
    failed+=("$name")
    line+="  FAILED (exit $status; see $log)"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5 || true
  fi
  summary+=("$line")
done

echo "fuzz: ${seconds}s per target"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crash, leak or timeout"
