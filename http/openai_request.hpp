#pragma once
// The body of POST /v1/images/generations (OpenAI's Images API) translated into the native
// request's fields, so every limit is then checked by validate_generate_fields.

#include <string>

#include "cluster_config/config.hpp"
#include "http/generate_request.hpp"

namespace muse::http {

struct openai_request {
  generate_fields fields;
  bool as_url = false;  // response_format "url" rather than "b64_json"
};

// Throws api_error (400 naming OpenAI's field, or the native one a field becomes) for a body that
// is not a JSON object, an unknown field, a prompt or n of the wrong type, or a size, quality or
// response_format OpenAI does not define; `model` words the hint.
openai_request translate_openai_request(const std::string& body, const config::model_config& model);

}  // namespace muse::http
