#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine: installs what is missing, builds, and
# runs every test through ctest, which prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
cd "${MUSE_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900
