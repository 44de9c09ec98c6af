#pragma once
// PNG bytes -> 8-bit RGB, for the init images of image-to-image requests (libpng). Reads what
// clients send: gray, gray + alpha, RGB, RGBA and palette images at 1 to 8 bits per sample,
// interlaced or not. Alpha (and a tRNS chunk) is dropped, the stored colours kept, as PIL's
// convert("RGB") does, which diffusers applies to the PIL images its pipelines take; gray is
// repeated into R, G and B. 16-bit images are refused. No gamma or colour profile is applied.

#include <cstdint>
#include <string>

#include "actors/order.hpp"
#include "http/image_decode.hpp"

namespace muse::http {

class png_decode_error : public image_decode_error {
 public:
  using image_decode_error::image_decode_error;
};

struct png_header {
  int width = 0;
  int height = 0;
  int bit_depth = 0;  // bits per sample (per palette index for palette images)
  bool interlaced = false;
};

// Whether the bytes start with the PNG signature.
bool is_png(const std::string& bytes);
// The size and format from the header alone (nothing is decompressed), to check the size
// before the pixels are allocated. Throws png_decode_error.
png_header read_png_header(const std::string& bytes);
// The whole image. Throws png_decode_error for anything malformed (a bad signature, chunk, CRC or
// compressed stream, data that ends early), for 16-bit images, and for images of more than
// `max_pixels` pixels, before their pixels are allocated.
actors::rgb_pixels decode_png(const std::string& bytes, int64_t max_pixels);

}  // namespace muse::http
