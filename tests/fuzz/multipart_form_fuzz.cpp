// A multipart/form-data upload as its routes read it; input "<Content-Type>\n<body>". The parts
// (multipart_boundary, parse_multipart_form), then the native fields (read_generate_input) and
// OpenAI's edits and variations (translate_openai_upload), each validated by
// validate_generate_fields. api_error is the only error any step may throw; every part's body is
// a piece of the input, and there are at most the limit's parts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/api_error.hpp"
#include "http/form_request.hpp"
#include "http/generate_request.hpp"
#include "http/openai_request.hpp"

namespace {

void validate(const muse::http::generate_fields& fields) {
  static const muse::http::request_rules rules;
  try {
    auto request = muse::http::validate_generate_fields(fields, rules, 7);
    for (const auto& sample : request.samples)
      if (sample.steps < 1 ||
          (sample.init_image.width > 0 &&
           sample.init_image.pixels.size() != size_t(sample.width) * size_t(sample.height) * 3))
        __builtin_trap();
  } catch (const muse::http::api_error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  if (newline == std::string::npos) return 0;
  const std::string content_type = input.substr(0, newline);
  const std::string body = input.substr(newline + 1);
  try {
    const muse::http::multipart_limits limits;
    const auto parts =
        muse::http::parse_multipart_form(body, muse::http::multipart_boundary(content_type));
    if (parts.size() > limits.max_parts) __builtin_trap();
    for (const auto& part : parts)
      if (part.name.empty() || body.find(part.body) == std::string::npos) __builtin_trap();
    for (auto route : {muse::http::openai_upload::edit, muse::http::openai_upload::variation}) {
      try {
        validate(muse::http::translate_openai_upload(parts, route, {}).fields);
      } catch (const muse::http::api_error&) {
      }
    }
  } catch (const muse::http::api_error&) {
  }
  try {
    validate(muse::http::read_generate_input(content_type, body));
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
