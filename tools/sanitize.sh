#!/usr/bin/env bash
# Builds the config, actors and http test suites with AddressSanitizer and UndefinedBehavior-
# Sanitizer (-DMUSE_SANITIZE=ON) into build-asan/ and runs them through ctest. Any report fails
# the run: memory errors and leaks abort (ASan), and undefined behaviour does too.
# run-tests.sh runs this after the main suite.
# Usage: tools/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${MUSE_SANITIZE_BUILD_DIR:-build-asan}
jobs=${MUSE_JOBS:-$(nproc)}
suites=(config_tests actors_tests http_tests)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  # -O1, as the sanitizers' documentation suggests: reports stay exact, and libtorch's heavy
  # translation units compile in a fraction of -O3's time.
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DMUSE_SANITIZE=ON
fi
cmake --build "$build_dir" --target "${suites[@]}" -j "$jobs"
cd "$build_dir"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
regex=$(IFS='|'; echo "^(${suites[*]})\$")
ctest --output-on-failure --timeout 900 -R "$regex"
