#pragma once
// Standard base64 (RFC 4648) for PNG bytes in JSON: responses' images, requests' init images.

#include <optional>
#include <string>

namespace muse::http {

std::string base64_encode(const std::string& bytes);
// The bytes of `text`, or nothing when it is not base64: characters outside the standard alphabet,
// padding other than at the end, a length that no encoding has. Padding may be left out.
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace muse::http
