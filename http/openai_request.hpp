#pragma once
// The body of POST /v1/images/generations (OpenAI's Images API) translated into the native body
// of POST /api/v1/generate, so every limit is then checked by parse_generate_request.

#include <nlohmann/json.hpp>
#include <string>

#include "cluster_config/config.hpp"

namespace muse::http {

struct openai_request {
  nlohmann::json native;  // the body for parse_generate_request
  bool as_url = false;    // response_format "url" rather than "b64_json"
};

// Throws api_error (400 naming OpenAI's field) for a body that is not a JSON object, an unknown
// field, or a size, quality or response_format OpenAI does not define; `model` words the hint.
openai_request translate_openai_request(const std::string& body, const config::model_config& model);

}  // namespace muse::http
