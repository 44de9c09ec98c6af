#pragma once
// Writes JPEGs with libjpeg, so tests can send every kind a client may: colour (YCbCr), gray,
// CMYK, baseline or progressive, at a quality that keeps flat colours within a few levels.

#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace muse::testing {

struct jpeg_spec {
  int width = 8;
  int height = 8;
  int components = 3;            // 1 gray, 3 colour, 4 CMYK
  std::vector<uint8_t> samples;  // height x width x components
  bool progressive = false;
  int quality = 95;
};

inline std::string make_jpeg(const jpeg_spec& spec) {
  if (spec.samples.size() != size_t(spec.width) * spec.height * spec.components)
    throw std::invalid_argument("make_jpeg: samples do not match the size");
  jpeg_compress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);  // a failure exits: only for tests' well-formed input
  jpeg_create_compress(&info);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &out, &size);
  info.image_width = JDIMENSION(spec.width);
  info.image_height = JDIMENSION(spec.height);
  info.input_components = spec.components;
  info.in_color_space = spec.components == 1   ? JCS_GRAYSCALE
                        : spec.components == 4 ? JCS_CMYK
                                               : JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, spec.quality, TRUE);
  if (spec.progressive) jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  const size_t row_bytes = size_t(spec.width) * spec.components;
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(spec.samples.data() + info.next_scanline * row_bytes);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string bytes(reinterpret_cast<const char*>(out), size);
  std::free(out);
  return bytes;
}

// A colour JPEG of one flat colour (which survives the compression within a level or two).
inline std::string make_flat_jpeg(int width, int height, uint8_t r, uint8_t g, uint8_t b,
                                  bool progressive = false) {
  jpeg_spec spec;
  spec.width = width;
  spec.height = height;
  spec.progressive = progressive;
  for (int i = 0; i < width * height; ++i) spec.samples.insert(spec.samples.end(), {r, g, b});
  return make_jpeg(spec);
}

}  // namespace muse::testing
