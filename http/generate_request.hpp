#pragma once
// Turns the JSON body of POST /api/v1/generate (and the seed's POST /api/predict) into the samples
// of one order, checking every field against the config and the served model's limits. Throws
// api_error (400 naming the field) for anything wrong.

#include <cstdint>
#include <string>
#include <vector>

#include "cluster_config/config.hpp"
#include "actors/order.hpp"

namespace muse::http {

// Seeds stay within what a JSON double holds exactly, so clients in any language get them back
// intact.
constexpr uint64_t max_seed = (uint64_t(1) << 53) - 1;

struct request_rules {
  actors::model_limits limits;
  config::model_config model;
  size_t max_prompt_chars = 1000;
};

struct generate_request {
  std::vector<actors::sample_request> samples;  // image i has seed + i
  uint64_t seed = 0;
  int steps = 0;
};

// `drawn_seed` is used when the body names no seed (the caller draws it at random).
generate_request parse_generate_request(const std::string& body, const request_rules& rules,
                                        uint64_t drawn_seed);

// {prompt, high_quality?}: fast or quality steps, one image of the default size. Other fields
// are ignored, as the seed's server did, so the bodies its web UI sent are accepted as they are.
generate_request parse_predict_request(const std::string& body, const request_rules& rules,
                                       uint64_t drawn_seed);

// Number of Unicode code points in valid UTF-8 text.
size_t utf8_length(const std::string& text);

}  // namespace muse::http
