#pragma once
// Writes PNG files chunk by chunk (zlib for the image data and the CRCs), so tests can make every
// colour type, bit depth and interlacing a client may send, and break any part of a file.

#include <zlib.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace muse::testing {

inline std::string png_u32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

inline std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const auto crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()));
  return png_u32(uint32_t(data.size())) + body + png_u32(uint32_t(crc));
}

inline std::string png_deflate(const std::string& raw) {
  uLongf size = compressBound(uLong(raw.size()));
  std::string out(size, '\0');
  if (compress(reinterpret_cast<Bytef*>(&out[0]), &size, reinterpret_cast<const Bytef*>(raw.data()),
               uLong(raw.size())) != Z_OK)
    throw std::runtime_error("compress failed");
  out.resize(size);
  return out;
}

struct png_spec {
  int width = 1;
  int height = 1;
  int bit_depth = 8;
  int color_type = 2;  // 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA
  bool interlaced = false;
  std::string extra_chunks;  // complete chunks between IHDR and IDAT (PLTE, tRNS)
  // The samples of pixel (x, y), each in 0..2^bit_depth - 1.
  std::function<std::vector<int>(int x, int y)> pixel;
};

inline int png_channels(int color_type) {
  switch (color_type) {
    case 0:
    case 3:
      return 1;
    case 4:
      return 2;
    case 2:
      return 3;
    default:
      return 4;
  }
}

// One scanline (filter byte 0, then the samples packed big-endian as PNG packs them).
inline std::string png_scanline(const png_spec& spec, const std::vector<int>& xs, int y) {
  std::string line(1, '\0');
  uint32_t bits = 0;
  int count = 0;
  for (int x : xs) {
    for (int sample : spec.pixel(x, y)) {
      if (spec.bit_depth == 16) {
        line += char(sample >> 8);
        line += char(sample & 0xFF);
        continue;
      }
      bits = (bits << spec.bit_depth) | uint32_t(sample);
      count += spec.bit_depth;
      if (count == 8) {
        line += char(bits);
        bits = 0;
        count = 0;
      }
    }
  }
  if (count > 0) line += char(bits << (8 - count));
  return line;
}

// The raw (uncompressed) image data: rows in order, or the seven Adam7 passes.
inline std::string png_raw_data(const png_spec& spec) {
  std::string raw;
  auto rows = [&](int x0, int y0, int dx, int dy) {
    std::vector<int> xs;
    for (int x = x0; x < spec.width; x += dx) xs.push_back(x);
    if (xs.empty()) return;
    for (int y = y0; y < spec.height; y += dy) raw += png_scanline(spec, xs, y);
  };
  if (!spec.interlaced) {
    rows(0, 0, 1, 1);
    return raw;
  }
  const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                            {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  for (const auto& p : passes) rows(p[0], p[1], p[2], p[3]);
  return raw;
}

inline std::string png_header_chunk(const png_spec& spec) {
  std::string ihdr = png_u32(uint32_t(spec.width)) + png_u32(uint32_t(spec.height));
  ihdr += char(spec.bit_depth);
  ihdr += char(spec.color_type);
  ihdr += '\0';  // deflate
  ihdr += '\0';  // adaptive filtering
  ihdr += char(spec.interlaced ? 1 : 0);
  return png_chunk("IHDR", ihdr);
}

inline std::string png_signature() { return "\x89PNG\r\n\x1a\n"; }

inline std::string make_png(const png_spec& spec) {
  return png_signature() + png_header_chunk(spec) + spec.extra_chunks +
         png_chunk("IDAT", png_deflate(png_raw_data(spec))) + png_chunk("IEND", "");
}

// An 8-bit RGB PNG of `rgb` (width x height x 3 bytes).
inline std::string make_rgb_png(int width, int height, const std::vector<uint8_t>& rgb) {
  png_spec spec;
  spec.width = width;
  spec.height = height;
  spec.pixel = [&rgb, width](int x, int y) {
    const size_t at = (size_t(y) * size_t(width) + size_t(x)) * 3;
    return std::vector<int>{rgb[at], rgb[at + 1], rgb[at + 2]};
  };
  return make_png(spec);
}

}  // namespace muse::testing
