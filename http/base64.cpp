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

std::optional<std::string> base64_decode(const std::string& text) {
  size_t length = text.size();
  if (length % 4 == 0 && length >= 4) {
    if (text[length - 1] == '=') --length;
    if (text[length - 1] == '=') --length;
  }
  if (length % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(length / 4 * 3 + 2);
  uint32_t chunk = 0;
  int bits = 0;
  for (size_t i = 0; i < length; ++i) {
    const char c = text[i];
    uint32_t value;
    if (c >= 'A' && c <= 'Z')
      value = uint32_t(c - 'A');
    else if (c >= 'a' && c <= 'z')
      value = uint32_t(c - 'a') + 26;
    else if (c >= '0' && c <= '9')
      value = uint32_t(c - '0') + 52;
    else if (c == '+')
      value = 62;
    else if (c == '/')
      value = 63;
    else
      return std::nullopt;
    chunk = chunk << 6 | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char(uint8_t(chunk >> bits));
      chunk &= (uint32_t(1) << bits) - 1;
    }
  }
  // The bits left over (2 or 4) are padding an encoder writes as zeros.
  if (chunk != 0) return std::nullopt;
  return out;
}

}  // namespace muse::http
