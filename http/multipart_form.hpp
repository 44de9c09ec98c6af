#pragma once
// A strict multipart/form-data reader (RFC 7578 on RFC 2046's framing), for uploads: the boundary
// from the Content-Type, CRLF line ends, every part a Content-Disposition "form-data" with a
// name (and a filename for a file). Nothing before the first delimiter, nothing but one CRLF
// after the last. Anything else is a 400 invalid_multipart saying what and where; the body as a
// whole is already within gateway.max_body_bytes.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace muse::http {

struct form_part {
  std::string name;
  std::optional<std::string> filename;  // present for a file (it may be empty)
  std::string content_type;             // as sent; empty when the part has none
  std::string body;
};

struct multipart_limits {
  size_t max_parts = 32;
  size_t max_header_bytes = 8192;  // one part's header block
};

// Whether a Content-Type value is multipart/form-data (the media type, case-insensitive).
bool is_multipart_form(const std::string& content_type);
// Its boundary parameter (RFC 2046: 1 to 70 characters of its set, quoted or not). Throws
// api_error 400 invalid_multipart.
std::string multipart_boundary(const std::string& content_type);
// The parts of `body`, in order. Throws api_error 400 invalid_multipart.
std::vector<form_part> parse_multipart_form(const std::string& body, const std::string& boundary,
                                            const multipart_limits& limits = {});

}  // namespace muse::http
