#!/usr/bin/env bash
# The way to start on a fresh Debian 12 machine: installs what is missing, builds, and starts a
# single-node deployment (--role=all) serving the built-in model. Prints the URL to open.
# Usage: tools/run-local.sh [path/to/config.json]   (default: cluster_config/local.json)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-cluster_config/local.json}
# The browser test's Chromium and npm packages are for the test command only.
MUSE_SKIP_BROWSER=1 tools/install-deps.sh
MUSE_BUILD_TARGETS=muse-node tools/build.sh
exec ./build/muse-node --role=all --config "$config"
