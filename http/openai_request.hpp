#pragma once
// OpenAI's Images API bodies translated into the native request's fields, so every limit is then
// checked by validate_generate_fields: the JSON of POST /v1/images/generations, and the
// multipart/form-data of /v1/images/edits and /v1/images/variations (image to image).

#include <string>
#include <vector>

#include "cluster_config/config.hpp"
#include "http/generate_request.hpp"
#include "http/multipart_form.hpp"

namespace muse::http {

struct openai_request {
  generate_fields fields;
  // response_format: "url" unless the body asks for "b64_json", the default OpenAI documents for
  // its diffusion models (DALL-E 2 and 3); the URL lives gateway.image_url_ttl_s.
  bool as_url = true;
};

// OpenAI has no strength: how much of the schedule reworks the uploaded image. Edits follow
// diffusers' default; variations, which have no prompt to steer them, keep more of the image.
constexpr double openai_edit_strength = 0.8;
constexpr double openai_variation_strength = 0.6;

enum class openai_upload { edit, variation };

// Throws api_error (400 naming OpenAI's field, or the native one a field becomes) for a body that
// is not a JSON object, an unknown field, a prompt or n of the wrong type, or a size, quality or
// response_format OpenAI does not define; `model` words the hint.
openai_request translate_openai_request(const std::string& body, const config::model_config& model);

// The parts of an edits or variations body: one `image` (or `image[]`, as OpenAI's SDKs name a
// list) file as the init image, at the route's strength; edits need a prompt, variations take
// none (the empty prompt). Throws api_error 400 as above, and for a `mask` (inpainting is not
// supported), no image, or more than one.
openai_request translate_openai_upload(const std::vector<form_part>& parts, openai_upload route,
                                       const config::model_config& model);

}  // namespace muse::http
