#pragma once
// JPEG bytes -> 8-bit RGB, for the init images of image-to-image requests (libjpeg-turbo). Reads
// baseline, extended and progressive JPEGs (Huffman or arithmetic coded) in YCbCr, RGB or
// grayscale; gray is repeated into R, G and B, as PIL's convert("RGB") does. CMYK and YCCK
// JPEGs, 12-bit samples and anything libjpeg warns about (corrupt or truncated data) are refused.
// No colour profile and no EXIF orientation is applied.

#include <cstdint>
#include <string>

#include "actors/order.hpp"
#include "http/image_decode.hpp"

namespace muse::http {

class jpeg_decode_error : public image_decode_error {
 public:
  using image_decode_error::image_decode_error;
};

// A progressive JPEG may have at most this many scans: each one passes over the whole image
// again, so a file of thousands of tiny scans would take minutes to decode.
constexpr int max_jpeg_scans = 100;

struct jpeg_header {
  int width = 0;
  int height = 0;
  int components = 0;
  bool progressive = false;
};

// Whether the bytes start with a JPEG's start-of-image marker (FF D8 FF).
bool is_jpeg(const std::string& bytes);
// The size and format from the headers alone (nothing is decompressed). Throws
// jpeg_decode_error.
jpeg_header read_jpeg_header(const std::string& bytes);
// The whole image. Throws jpeg_decode_error for anything malformed or refused (see above), and
// for images of more than `max_pixels` pixels, before their pixels are allocated.
actors::rgb_pixels decode_jpeg(const std::string& bytes, int64_t max_pixels);

}  // namespace muse::http
