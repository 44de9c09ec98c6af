// The body of POST /v1/images/generations as its route reads it: translated to the native body,
// dumped, and parsed by parse_generate_request. api_error is the only error either step may throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/api_error.hpp"
#include "http/generate_request.hpp"
#include "http/openai_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const muse::http::request_rules rules;
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    muse::http::openai_request translated = muse::http::translate_openai_request(body, rules.model);
    muse::http::parse_generate_request(translated.native.dump(), rules, 7);
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
