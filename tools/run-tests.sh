#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine: installs what is missing, builds, and runs
#   1. the whole suite (build/, ctest);
#   2. the config, actors and http suites built with ASan and UBSan (tools/sanitize.sh);
#   3. each fuzz target for MUSE_FUZZ_SECONDS (default 30) seconds (tools/fuzz.sh).
# ctest prints each part's summary; all three run even when one fails, and the exit status says
# whether any did.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1
tools/build.sh || exit 1
failed=()
(cd "${MUSE_BUILD_DIR:-build}" && ctest --output-on-failure --timeout 900) || failed+=("suite")
tools/sanitize.sh || failed+=("sanitizers")
tools/fuzz.sh "${MUSE_FUZZ_SECONDS:-30}" || failed+=("fuzzing")
if ((${#failed[@]} > 0)); then
  echo "run-tests: FAILED: ${failed[*]}"
  exit 1
fi
echo "run-tests: suite, sanitizers and fuzzing passed"
