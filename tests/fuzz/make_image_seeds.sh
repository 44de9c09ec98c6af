#!/usr/bin/env bash
# Writes the JPEG seeds of corpus/image_decode with tests/support/jpeg_builder.hpp (libjpeg):
# baseline colour, progressive colour, gray, CMYK, and a truncated one; the PNG seeds are those of
# corpus/png_decode. Run from anywhere; needs g++ and libjpeg's headers (tools/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/tests/fuzz/corpus/image_decode
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/make.cpp" <<'CPP'
#include <fstream>
#include "tests/support/jpeg_builder.hpp"
using muse::testing::jpeg_spec;
static void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
static jpeg_spec pattern(int components, bool progressive) {
  jpeg_spec spec;
  spec.width = 16;
  spec.height = 8;
  spec.components = components;
  spec.progressive = progressive;
  spec.quality = 75;
  for (int i = 0; i < spec.width * spec.height * components; ++i)
    spec.samples.push_back(uint8_t(i * 37));
  return spec;
}
int main(int, char** argv) {
  const std::string dir = argv[1];
  write(dir + "/baseline.jpg", muse::testing::make_jpeg(pattern(3, false)));
  write(dir + "/progressive.jpg", muse::testing::make_jpeg(pattern(3, true)));
  write(dir + "/gray.jpg", muse::testing::make_jpeg(pattern(1, false)));
  write(dir + "/cmyk.jpg", muse::testing::make_jpeg(pattern(4, false)));
  const auto whole = muse::testing::make_jpeg(pattern(3, true));
  write(dir + "/truncated.jpg", whole.substr(0, whole.size() / 2));
}
CPP
g++ -std=c++17 -I"$root" "$work/make.cpp" -o "$work/make" -ljpeg
mkdir -p "$out"
"$work/make" "$out"
cp "$root"/tests/fuzz/corpus/png_decode/*.png "$out/"
ls -l "$out"
