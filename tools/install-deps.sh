#!/usr/bin/env bash
# Installs the Debian 12 packages the project builds, tests and runs with. Idempotent: a package
# that is already there is left alone, so a second run costs a dpkg query and nothing else.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev librestinio-dev libasio-dev libhttp-parser-dev libfmt-dev
  nlohmann-json3-dev catch2
  libtorch-dev
  # Debian's libtorch calls the generic libblas.so.3; OpenBLAS takes that slot through
  # update-alternatives and makes CPU matrix products ~15x faster than the reference BLAS.
  libopenblas0-openmp
  libpng-dev libjpeg62-turbo-dev zlib1g-dev libcurl4-openssl-dev libssl-dev
  python3 python3-numpy
  curl
  # The fuzz targets (tools/fuzz.sh): clang with libFuzzer and the sanitizer runtimes.
  clang libclang-rt-14-dev
  # The format check (tools/check-format.sh) against .clang-format.
  clang-format
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Browser test (tests/browser) -------------------------------------------------------------
# The web page's end-to-end test drives Debian's Chromium headless through playwright-core (npm,
# pinned by tests/browser/package-lock.json). Idempotent like the part above: packages already
# installed are left alone, and `npm ci` runs only when node_modules is missing or older than the
# lock file. MUSE_SKIP_BROWSER=1 skips this part.
if [ "${MUSE_SKIP_BROWSER:-0}" != "1" ]; then
  browser_packages=(chromium)
  # A Node.js from elsewhere (e.g. NodeSource, which bundles npm) conflicts with Debian's npm.
  command -v node >/dev/null || browser_packages+=(nodejs)
  command -v npm >/dev/null || browser_packages+=(npm)
  browser_missing=()
  for p in "${browser_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || browser_missing+=("$p")
  done
  if ((${#browser_missing[@]} > 0)); then
    echo "install-deps: installing ${browser_missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${browser_missing[@]}"
  fi
  browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  if [ ! -d "$browser_dir/node_modules/playwright-core" ] ||
     [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules" ]; then
    echo "install-deps: npm ci in tests/browser"
    (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
