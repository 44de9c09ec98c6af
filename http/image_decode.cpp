#include "http/image_decode.hpp"

#include "http/jpeg_decode.hpp"
#include "http/png_decode.hpp"

namespace muse::http {
namespace {

[[noreturn]] void unknown_format() {
  throw image_decode_error("not a PNG or JPEG image (neither signature)");
}

}  // namespace

image_size read_image_size(const std::string& bytes) {
  if (is_png(bytes)) {
    const auto header = read_png_header(bytes);
    return {header.width, header.height};
  }
  if (is_jpeg(bytes)) {
    const auto header = read_jpeg_header(bytes);
    return {header.width, header.height};
  }
  unknown_format();
}

actors::rgb_pixels decode_image(const std::string& bytes, int64_t max_pixels) {
  if (is_png(bytes)) return decode_png(bytes, max_pixels);
  if (is_jpeg(bytes)) return decode_jpeg(bytes, max_pixels);
  unknown_format();
}

}  // namespace muse::http
