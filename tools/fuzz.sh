#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into build-fuzz/ and runs
# each for SECONDS_PER_TARGET seconds on a copy of its seed corpus, one after another, through
# ctest (which prints the summary). Each prints the inputs it ran and libFuzzer's final coverage;
# a crash, leak, timeout or running out of memory fails its test and leaves the reproducer in
# build-fuzz/tests/fuzz/run/<target>/. run-tests.sh runs this too.
# Usage: tools/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build_dir=${MUSE_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${MUSE_JOBS:-$(nproc)}

# clang and its runtime libraries (libFuzzer, the sanitizers) are among the project's packages.
MUSE_SKIP_BROWSER=1 tools/install-deps.sh

generator=()
command -v ninja >/dev/null && [ ! -f "$build_dir/CMakeCache.txt" ] && generator=(-G Ninja)
CC=clang CXX=clang++ cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSE_FUZZ=ON -DMUSE_BUILD_TESTS=OFF -DMUSE_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build "$build_dir" --target fuzz_targets -j "$jobs"
cd "$build_dir"
ctest --output-on-failure --verbose --timeout $((seconds + 120))
