// The bodies of POST /sdapi/v1/txt2img and /sdapi/v1/img2img as their routes read them (the first
// byte picks the route): translated to the native fields, validated by validate_generate_fields,
// and answered in A1111's shape. api_error is the only error they may throw; an accepted request
// is within the limits it was checked against, and its answer's info is JSON text.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "http/a1111_request.hpp"
#include "http/api_error.hpp"
#include "http/generate_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const muse::http::request_rules rules;
  const auto route =
      data[0] % 2 ? muse::http::a1111_route::img2img : muse::http::a1111_route::txt2img;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const auto translated = muse::http::translate_a1111_request(body, route, rules);
    const auto request = muse::http::validate_generate_fields(translated.fields, rules, 7);
    for (const auto& sample : request.samples)
      if (sample.width < rules.limits.min_size || sample.width > rules.limits.max_size ||
          sample.height < rules.limits.min_size || sample.height > rules.limits.max_size ||
          sample.steps < 1)
        __builtin_trap();
    if (request.samples.size() != size_t(translated.batch_size) * size_t(translated.n_iter))
      __builtin_trap();
    muse::actors::generate_outcome outcome;
    for (const auto& sample : request.samples) outcome.images.push_back({"png", sample.seed});
    const auto answer = muse::http::a1111_images_body(translated, request, outcome, "model");
    (void)nlohmann::json::parse(answer.at("info").get<std::string>());
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
