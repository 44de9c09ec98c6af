// The body of POST /v1/images/generations as its route reads it: translated to the native fields
// and validated by validate_generate_fields. api_error is the only error either step may throw; an
// accepted request is within the limits it was checked against.
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
    auto request = muse::http::validate_generate_fields(translated.fields, rules, 7);
    for (const auto& sample : request.samples)
      if (sample.width < rules.limits.min_size || sample.width > rules.limits.max_size ||
          sample.height < rules.limits.min_size || sample.height > rules.limits.max_size ||
          sample.steps < 1 || sample.prompt.empty())
        __builtin_trap();
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
