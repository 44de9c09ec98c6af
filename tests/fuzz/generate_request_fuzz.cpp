// The bodies of POST /api/v1/generate (and /api/v1/jobs, which parses the same way) and of
// POST /api/predict, with the shipped model defaults. An api_error is the parser's answer to a bad
// body; an accepted one must be within the limits it was checked against.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/api_error.hpp"
#include "http/generate_request.hpp"

namespace {

void check(const muse::http::generate_request& request, const muse::http::request_rules& rules) {
  if (request.samples.empty()) __builtin_trap();
  for (const auto& sample : request.samples) {
    if (sample.width < rules.limits.min_size || sample.width > rules.limits.max_size ||
        sample.height < rules.limits.min_size || sample.height > rules.limits.max_size ||
        sample.steps < 1 || sample.prompt.empty())
      __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const muse::http::request_rules rules;
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    check(muse::http::parse_generate_request(body, rules, 7), rules);
  } catch (const muse::http::api_error&) {
  }
  try {
    check(muse::http::parse_predict_request(body, rules, 7), rules);
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
