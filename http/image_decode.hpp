#pragma once
// Init images of image-to-image requests: PNG (png_decode) or JPEG (jpeg_decode), told apart by
// their signatures, decoded to 8-bit RGB. The header is read first, so an image over the pixel
// limit is refused before its pixels are allocated.

#include <cstdint>
#include <stdexcept>
#include <string>

#include "actors/order.hpp"

namespace muse::http {

// What is wrong with the bytes, in words a client can act on.
class image_decode_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct image_size {
  int width = 0;
  int height = 0;
};

// The size from the header alone (nothing is decompressed). Throws image_decode_error for bytes
// that are neither a PNG nor a JPEG, or whose header is malformed.
image_size read_image_size(const std::string& bytes);
// The whole image as 8-bit RGB. Throws image_decode_error as the format's decoder does.
actors::rgb_pixels decode_image(const std::string& bytes, int64_t max_pixels);

}  // namespace muse::http
