#!/usr/bin/env bash
# Configures and builds the project into build/ (Release). Used by run-local.sh and run-tests.sh.
# Usage: tools/build.sh [extra cmake -D options...]
# MUSE_BUILD_TARGETS="muse-node ..." builds only those targets (and what they need): run-local.sh
# builds the server alone, the tests are not compiled until the test command asks for them.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${MUSE_BUILD_DIR:-build}
jobs=${MUSE_JOBS:-$(nproc)}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
fi
# libtorch translation units take ~1.5 GB of memory each; nproc jobs fit in the 24 GB we plan for.
targets=()
for target in ${MUSE_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
