#pragma once
// AUTOMATIC1111's web UI API (/sdapi/v1/txt2img, /sdapi/v1/img2img) translated into the native
// request's fields, so every limit is then checked by validate_generate_fields, and the answer in
// A1111's shape. Fields A1111 clients send that cannot change the picture are accepted and
// ignored (a documented list); those that would change it and that this server cannot honour
// are refused (400 naming the field) unless they hold their neutral value, never dropped.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/order.hpp"
#include "http/api_error.hpp"
#include "http/generate_request.hpp"

namespace muse::http {

// A1111's name for one of our schedulers, with the other names A1111 accepts for it.
struct a1111_sampler {
  const char* name;       // "Euler a"
  const char* scheduler;  // ours: "euler_ancestral"
  std::vector<const char*> aliases;
};
const std::vector<a1111_sampler>& a1111_samplers();
// A1111's name of our scheduler `scheduler`; the scheduler's own name when A1111 has none.
std::string a1111_sampler_name(const std::string& scheduler);
// Those of `schedulers` (a model's, as in model_limits) that A1111 names, in A1111's order.
std::vector<a1111_sampler> a1111_samplers_of(const std::vector<std::string>& schedulers);

// A1111's default denoising_strength for image to image (its img2img API's default).
constexpr double a1111_default_strength = 0.75;

enum class a1111_route { txt2img, img2img };

struct a1111_request {
  generate_fields fields;
  nlohmann::json parameters;  // the body as read, echoed in the answer's "parameters"
  int batch_size = 1;
  int n_iter = 1;
  bool send_images = true;
  bool include_init_images = false;
};

// The body of a txt2img or img2img request against `rules` (the served model's schedulers and
// max images). Throws api_error: 422 for a body that is not a JSON object or a field of the wrong
// type (what A1111's request schema refuses); 400 naming the field for a value that cannot be
// honoured, an unknown field, an unknown sampler or too many images.
a1111_request translate_a1111_request(const std::string& body, a1111_route route,
                                      const request_rules& rules);

// The 200's body: {"images": [base64 PNG...], "parameters": {...}, "info": "<JSON text>"}, as
// A1111 answers; `model_name` is what info names the model.
nlohmann::json a1111_images_body(const a1111_request& request, const generate_request& generated,
                                 const actors::generate_outcome& outcome,
                                 const std::string& model_name);

// A native error as an A1111 route answers it: A1111's field names for the native ones (field
// and the start of the message), and FastAPI's "detail" beside our "error".
nlohmann::json a1111_error_body(const api_error& error);
// The A1111 name of a native field a translated request may be refused on.
std::string a1111_field(const std::string& native);

}  // namespace muse::http
