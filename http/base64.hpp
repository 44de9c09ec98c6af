#pragma once
// Standard base64 (RFC 4648, with padding) for PNG bytes in JSON responses.

#include <string>

namespace muse::http {

std::string base64_encode(const std::string& bytes);

}  // namespace muse::http
