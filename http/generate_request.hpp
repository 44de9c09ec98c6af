#pragma once
// What a request to generate asks for, read once and validated once. Each front end (the native
// JSON body, the seed's predict body, OpenAI's body, a Slack command) reads its input into one
// `generate_fields`, checking only that each value has the right type; validate_generate_fields
// then checks every value against the config and the served model's limits, the same way for
// all of them, and expands it into the samples of one order. Both throw api_error (400 naming the
// field) for anything wrong.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/order.hpp"
#include "cluster_config/config.hpp"

namespace muse::http {

// Seeds stay within what a JSON double holds exactly, so clients in any language get them back
// intact.
constexpr uint64_t max_seed = (uint64_t(1) << 53) - 1;

struct request_rules {
  actors::model_limits limits;
  config::model_config model;  // the model the request named (or the default)
  size_t max_prompt_chars = 1000;
  size_t max_init_image_bytes = 4 << 20;  // gateway.max_init_image_bytes
};

// A request in the native API's terms, before any limit is checked. Absent fields take the
// config's defaults. Integers out of int64's range are held as its nearest end, which every
// range refuses the same way.
struct generate_fields {
  std::optional<std::string> model;  // a served model's name; absent: the default (the first)
  std::string prompt;
  std::optional<std::string> negative_prompt;
  bool quality_steps = false;    // model.quality_steps rather than fast_steps
  std::optional<int64_t> steps;  // overrides quality_steps
  std::optional<double> guidance_scale;
  std::optional<int64_t> width;
  std::optional<int64_t> height;
  std::optional<int64_t> n;
  std::optional<std::string> scheduler;
  std::optional<int64_t> seed;
  // Image to image: a PNG or JPEG, base64 (a "data:image/...;base64," prefix allowed), as sent;
  // or its bytes as uploaded (a multipart file). At most one of the two.
  std::optional<std::string> init_image;
  std::optional<std::string> init_image_upload;
  std::optional<double> strength;
  // LoRAs for every image of the request, as read (names and scales checked by validation).
  std::vector<actors::lora_choice> loras;
  // Live previews on the job's events (POST /api/v1/jobs only): about ten per image.
  bool previews = false;
  // OpenAI's variations take no prompt: the empty one is then accepted.
  bool empty_prompt_allowed = false;
  // An async job's: where its result is posted when it ends, as sent (checked at job creation).
  std::optional<std::string> webhook;

  bool has_init_image() const { return init_image || init_image_upload; }
};

struct generate_request {
  std::string model;                            // the served model's name
  std::vector<actors::sample_request> samples;  // image i has seed + i
  uint64_t seed = 0;
  int steps = 0;
  int denoising_steps = 0;  // the steps that run: `steps`, or int(steps x strength) from an image
};

// `loras`: a list of {"name", "scale" (default 1)}, or that list as JSON text (a form field).
// Throws api_error 400 on `loras` for any other shape; names and scales are checked by
// validate_generate_fields.
std::vector<actors::lora_choice> read_loras(const nlohmann::json& value);

// Which route reads a native body. Only a job takes `previews` and `webhook`: a synchronous
// request has no events to carry previews and is answered on its own connection, so anywhere
// else the fields are unknown.
enum class native_route { generate, job };

// The fields the native body takes on `route`, in the order http/README.md lists them: the reader
// refuses any other (with the closest of these as its "did you mean"), and http/web/openapi.json's
// GenerateRequest (JobRequest for a job) must name exactly these (tests/http/routes_test.cpp).
const std::vector<std::string>& generate_field_names(native_route route = native_route::generate);

// The body of POST /api/v1/generate (and /api/v1/jobs): a JSON object whose unknown fields are
// refused; `null` counts as absent.
generate_fields read_generate_body(const std::string& body,
                                   native_route route = native_route::generate);
// The same fields from a JSON object already parsed (multipart forms are read into one).
generate_fields read_generate_object(const nlohmann::json& fields,
                                     native_route route = native_route::generate);
// {prompt, high_quality?}, the seed's POST /api/predict: other fields are ignored, as the seed's
// server did, so the bodies its web UI sent are accepted as they are.
generate_fields read_predict_body(const std::string& body);

// Every value against `rules`; `drawn_seed` is used when the fields name no seed (the caller
// draws it at random).
generate_request validate_generate_fields(const generate_fields& fields, const request_rules& rules,
                                          uint64_t drawn_seed);

// The denoising steps a sample runs: its steps, or int(steps x strength) from an init image
// (model::cut_by_strength's count; http/ does not include model/).
int denoising_steps(const actors::sample_request& sample);

// read_generate_body, then validate_generate_fields.
generate_request parse_generate_request(const std::string& body, const request_rules& rules,
                                        uint64_t drawn_seed);
// read_predict_body, then validate_generate_fields: fast or quality steps, one image of the
// default size.
generate_request parse_predict_request(const std::string& body, const request_rules& rules,
                                       uint64_t drawn_seed);

// The readers' checks of one JSON value, for front ends that read their own bodies; `name` is
// the field named in the error. A value out of int64's range is held as its nearest end.
int64_t read_integer(const nlohmann::json& value, const std::string& name);
std::string read_text(const nlohmann::json& value, const std::string& name);
// The prompt of a JSON object: required, a string.
std::string read_prompt(const nlohmann::json& body);

// Number of Unicode code points in valid UTF-8 text.
size_t utf8_length(const std::string& text);

}  // namespace muse::http
