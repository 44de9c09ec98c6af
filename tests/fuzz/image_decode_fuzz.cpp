// read_image_size and decode_image (http/image_decode: PNG with libpng, JPEG with libjpeg-turbo,
// by signature) on any bytes, as an image-to-image request's init_image is read: either an
// image_decode_error or an image whose pixels are exactly width x height x 3 bytes, of the size
// the header gave.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/image_decode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto header = muse::http::read_image_size(bytes);
    // The size a 1024x1024 model takes: larger headers are refused before any allocation.
    const auto image = muse::http::decode_image(bytes, int64_t(1024) * 1024);
    if (image.width != header.width || image.height != header.height ||
        image.pixels.size() != size_t(image.width) * size_t(image.height) * 3)
      __builtin_trap();
  } catch (const muse::http::image_decode_error&) {
  }
  return 0;
}
