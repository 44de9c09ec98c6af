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
  libpng-dev zlib1g-dev libcurl4-openssl-dev libssl-dev
  python3 python3-numpy
  curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
