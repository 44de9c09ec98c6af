#include "http/base64.hpp"

#include <cstdint>

namespace muse::http {

std::string base64_encode(const std::string& bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t chunk = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                     uint32_t(uint8_t(bytes[i + 2]));
    out += alphabet[chunk >> 18 & 63];
    out += alphabet[chunk >> 12 & 63];
    out += alphabet[chunk >> 6 & 63];
    out += alphabet[chunk & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t chunk = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) chunk |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += alphabet[chunk >> 18 & 63];
    out += alphabet[chunk >> 12 & 63];
    out += rest == 2 ? alphabet[chunk >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace muse::http
