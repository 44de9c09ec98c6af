#include "http/generate_request.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "http/api_error.hpp"
#include "http/base64.hpp"
#include "http/image_decode.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

using nlohmann::json;

std::string range_text(int64_t low, int64_t high) {
  return std::to_string(low) + ".." + std::to_string(high);
}

int64_t in_range(int64_t value, const std::string& name, int64_t low, int64_t high) {
  if (value < low || value > high)
    throw invalid_field(name, name + " must be " + range_text(low, high));
  return value;
}

double number_in_range(double value, const std::string& name, double low, double high) {
  if (!(value >= low && value <= high)) {
    char range[64];
    std::snprintf(range, sizeof range, "%g..%g", low, high);
    throw invalid_field(name, name + " must be " + range);
  }
  return value;
}

std::string checked_text(const std::string& text, const std::string& name, size_t max_chars,
                         bool required_non_empty) {
  bool blank = std::all_of(text.begin(), text.end(),
                           [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
  if (required_non_empty && blank) throw invalid_field(name, name + " must not be empty");
  if (utf8_length(text) > max_chars)
    throw invalid_field(name,
                        name + " must be at most " + std::to_string(max_chars) + " characters");
  return text;
}

int checked_size(int64_t value, const std::string& name, const actors::model_limits& limits) {
  int size = int(in_range(value, name, limits.min_size, limits.max_size));
  if (limits.size_multiple > 1 && size % limits.size_multiple != 0)
    throw invalid_field(name,
                        name + " must be a multiple of " + std::to_string(limits.size_multiple));
  return size;
}

// The picture's area against the largest the worker's memory budget fits; names the field the
// request gave (width when it gave both or neither).
void check_area(const actors::sample_request& sample, const generate_fields& fields,
                const actors::model_limits& limits) {
  if (int64_t(sample.width) * sample.height <= limits.max_pixels) return;
  const bool height_only = !fields.width && fields.height;
  std::string budget;
  if (limits.memory_budget_mb > 0)
    budget =
        " under the worker's memory budget of " + std::to_string(limits.memory_budget_mb) + " MB";
  const int64_t multiple = std::max(limits.size_multiple, 1);
  int64_t side = int64_t(std::sqrt(double(limits.max_pixels))) / multiple * multiple;
  while (side > 0 && side * side > limits.max_pixels) side -= multiple;
  throw invalid_field(height_only ? "height" : "width",
                      "width x height " + std::to_string(sample.width) + "x" +
                          std::to_string(sample.height) + " is over this model's limit of " +
                          std::to_string(limits.max_pixels) + " pixels" + budget +
                          "; the largest square that fits is " + std::to_string(side) + "x" +
                          std::to_string(side));
}

std::string checked_scheduler(const std::string& name, const request_rules& rules) {
  const auto& known = rules.limits.schedulers;
  bool accepted = known.empty() ? name == rules.model.scheduler
                                : std::find(known.begin(), known.end(), name) != known.end();
  if (!accepted) {
    std::string list;
    for (const auto& k : known.empty() ? std::vector<std::string>{rules.model.scheduler} : known)
      list += (list.empty() ? "" : ", ") + k;
    throw invalid_field("scheduler", "scheduler must be one of: " + list);
  }
  return name;
}

int default_width(const request_rules& rules) {
  return rules.model.width > 0 ? rules.model.width : rules.limits.default_width;
}

int default_height(const request_rules& rules) {
  return rules.model.height > 0 ? rules.model.height : rules.limits.default_height;
}

generate_request expand(const actors::sample_request& first, uint64_t seed, int n) {
  generate_request request;
  request.seed = seed;
  request.steps = first.steps;
  for (int i = 0; i < n; ++i) {
    actors::sample_request sample = first;
    sample.seed = seed + uint64_t(i);
    request.samples.push_back(std::move(sample));
  }
  return request;
}

// `null` counts as absent, as JavaScript clients often send it for unset options.
const json* present(const json& fields, const char* name) {
  auto it = fields.find(name);
  return it == fields.end() || it->is_null() ? nullptr : &*it;
}

// The init image's bytes: uploaded, or base64 (after an optional data URL prefix), within the
// configured size.
std::string init_image_bytes(const generate_fields& fields, size_t max_bytes) {
  const std::string limit = "init_image must be at most " + std::to_string(max_bytes) +
                            " bytes (gateway.max_init_image_bytes)";
  if (fields.init_image_upload) {
    if (fields.init_image_upload->size() > max_bytes) throw invalid_field("init_image", limit);
    return *fields.init_image_upload;
  }
  std::string_view encoded = *fields.init_image;
  // A data URL ("data:image/png;base64,..."), as browsers' FileReader makes.
  if (encoded.compare(0, 5, "data:") == 0) {
    const auto start = encoded.find(";base64,");
    if (start == std::string_view::npos || start > 100)
      throw invalid_field("init_image", "init_image must be a base64 PNG or JPEG image");
    encoded.remove_prefix(start + 8);
  }
  // Checked before decoding: base64 holds 3 bytes in 4 characters.
  if (encoded.size() / 4 * 3 > max_bytes + 2) throw invalid_field("init_image", limit);
  auto bytes = base64_decode(std::string(encoded));
  if (!bytes) throw invalid_field("init_image", "init_image must be a base64 PNG or JPEG image");
  if (bytes->size() > max_bytes) throw invalid_field("init_image", limit);
  return std::move(*bytes);
}

// The model's size rule, for an init image that breaks it.
std::string size_rule(const actors::model_limits& limits) {
  return "this model takes width and height in " + range_text(limits.min_size, limits.max_size) +
         ", multiples of " + std::to_string(limits.size_multiple) + ", at most " +
         std::to_string(limits.max_pixels) + " pixels in all";
}

// Decodes the init image and sets the sample's size from it: a request's image is not resized,
// so an image the model cannot take at its own size is refused, naming the model's rule.
void set_init_image(actors::sample_request& sample, const generate_fields& fields,
                    const request_rules& rules) {
  const auto bytes = init_image_bytes(fields, rules.max_init_image_bytes);
  const auto& limits = rules.limits;
  try {
    const auto header = read_image_size(bytes);
    const std::string size = std::to_string(header.width) + "x" + std::to_string(header.height);
    auto fits = [&](int side) {
      return side >= limits.min_size && side <= limits.max_size &&
             side % std::max(limits.size_multiple, 1) == 0;
    };
    if (!fits(header.width) || !fits(header.height) ||
        int64_t(header.width) * header.height > limits.max_pixels)
      throw invalid_field(
          "init_image", "init_image is " + size + "; " + size_rule(limits) + ": resize or crop it");
    if ((fields.width && *fields.width != header.width) ||
        (fields.height && *fields.height != header.height))
      throw invalid_field(fields.width && *fields.width != header.width ? "width" : "height",
                          "init_image is " + size +
                              "; width and height must be left out or be its size (images are "
                              "not resized)");
    sample.init_image = decode_image(bytes, limits.max_pixels);
  } catch (const image_decode_error& e) {
    throw invalid_field("init_image", std::string("init_image: ") + e.what());
  }
  sample.width = sample.init_image.width;
  sample.height = sample.init_image.height;
}

// diffusers' check (0 <= strength <= 1, where 0 would leave no step) and its get_timesteps:
// int(steps x strength) steps run, at least one.
double checked_strength(double strength, int steps) {
  if (!(strength > 0 && strength <= 1))
    throw invalid_field("strength", "strength must be in (0, 1]");
  if (double(steps) * strength < 1)
    throw invalid_field("strength", "steps x strength must be at least 1 (" +
                                        std::to_string(steps) + " steps run none at strength " +
                                        std::to_string(strength) + ")");
  return strength;
}

}  // namespace

size_t utf8_length(const std::string& text) {
  return size_t(
      std::count_if(text.begin(), text.end(), [](char c) { return (uint8_t(c) & 0xC0) != 0x80; }));
}

// Integral JSON numbers (25 or 25.0).
int64_t read_integer(const json& value, const std::string& name) {
  constexpr int64_t lowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t highest = std::numeric_limits<int64_t>::max();
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    return v > uint64_t(highest) ? highest : int64_t(v);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    double v = value.get<double>();
    if (!std::isfinite(v) || v != std::floor(v))
      throw invalid_field(name, name + " must be an integer");
    if (v < -9.2e18) return lowest;
    if (v > 9.2e18) return highest;
    return int64_t(v);
  }
  throw invalid_field(name, name + " must be an integer");
}

std::string read_text(const json& value, const std::string& name) {
  if (!value.is_string()) throw invalid_field(name, name + " must be a string");
  return value.get<std::string>();
}

std::string read_prompt(const json& body) {
  auto prompt = present(body, "prompt");
  if (!prompt) throw invalid_field("prompt", "prompt is required");
  return read_text(*prompt, "prompt");
}

std::vector<actors::lora_choice> read_loras(const json& value) {
  const std::string shape = "loras must be a list of {\"name\": \"...\", \"scale\": 1.0}";
  // A multipart form sends the list as JSON text.
  const json list = value.is_string() ? parse_json_body(value.get<std::string>()) : value;
  if (!list.is_array()) throw invalid_field("loras", shape);
  std::vector<actors::lora_choice> out;
  for (const auto& item : list) {
    if (!item.is_object()) throw invalid_field("loras", shape);
    for (const auto& [key, v] : item.items())
      if (key != "name" && key != "scale")
        throw unknown_field("loras", {"name", "scale"}, " in a LoRA (" + key + ")");
    actors::lora_choice lora;
    auto name = present(item, "name");
    if (!name || !name->is_string()) throw invalid_field("loras", "each LoRA needs a \"name\"");
    lora.name = name->get<std::string>();
    if (auto scale = present(item, "scale")) {
      if (!scale->is_number()) throw invalid_field("loras", "a LoRA's scale must be a number");
      lora.scale = scale->get<double>();
    }
    out.push_back(std::move(lora));
  }
  return out;
}

namespace {

// The LoRAs against model/settings.hpp's limits, which the model checks again.
std::vector<actors::lora_choice> checked_loras(const std::vector<actors::lora_choice>& loras) {
  if (loras.size() > model::max_loras_per_sample)
    throw invalid_field("loras", "at most " + std::to_string(model::max_loras_per_sample) +
                                     " LoRAs per request, got " + std::to_string(loras.size()));
  for (const auto& lora : loras) {
    if (!model::is_lora_name(lora.name))
      throw invalid_field("loras", "LoRA name '" + lora.name +
                                       "' is not a file name of the LoRA folder (letters, digits, "
                                       "'.', '_', '-'; without .safetensors)");
    if (!std::isfinite(lora.scale) || std::fabs(lora.scale) > model::max_lora_scale)
      throw invalid_field("loras", "LoRA '" + lora.name + "': scale must be within -" +
                                       std::to_string(int(model::max_lora_scale)) + ".." +
                                       std::to_string(int(model::max_lora_scale)));
  }
  return loras;
}

}  // namespace

const std::vector<std::string>& generate_field_names(native_route route) {
  static const std::vector<std::string> every_route = {
      "prompt", "negative_prompt", "quality", "steps",     "guidance_scale", "seed",     "width",
      "height", "model",           "n",       "scheduler", "init_image",     "strength", "loras"};
  // `previews` come on a job's events and the result goes to its `webhook`, neither of which a
  // synchronous request has.
  static const std::vector<std::string> job = [] {
    std::vector<std::string> fields = every_route;
    fields.insert(fields.end(), {"previews", "webhook"});
    return fields;
  }();
  return route == native_route::job ? job : every_route;
}

generate_fields read_generate_body(const std::string& body, native_route route) {
  return read_generate_object(parse_json_object(body), route);
}

namespace {

const std::set<std::string>& native_fields(native_route route) {
  static const std::set<std::string> every_route(
      generate_field_names(native_route::generate).begin(),
      generate_field_names(native_route::generate).end());
  static const std::set<std::string> job(generate_field_names(native_route::job).begin(),
                                         generate_field_names(native_route::job).end());
  return route == native_route::job ? job : every_route;
}

}  // namespace

generate_fields read_generate_object(const json& fields, native_route route) {
  const std::set<std::string>& known_fields = native_fields(route);
  for (const auto& [name, value] : fields.items())
    if (!known_fields.count(name))
      throw unknown_field(name, known_fields,
                          native_fields(native_route::job).count(name)
                              ? " (" + name + " is taken by POST /api/v1/jobs only)"
                              : "");

  generate_fields out;
  if (auto v = present(fields, "model")) out.model = read_text(*v, "model");
  out.prompt = read_prompt(fields);
  if (auto v = present(fields, "negative_prompt"))
    out.negative_prompt = read_text(*v, "negative_prompt");
  if (auto v = present(fields, "quality")) {
    if (!v->is_string() || (*v != "fast" && *v != "quality"))
      throw invalid_field("quality", "quality must be \"fast\" or \"quality\"");
    out.quality_steps = *v == "quality";
  }
  if (auto v = present(fields, "steps")) out.steps = read_integer(*v, "steps");
  if (auto v = present(fields, "guidance_scale")) {
    if (!v->is_number()) throw invalid_field("guidance_scale", "guidance_scale must be a number");
    out.guidance_scale = v->get<double>();
  }
  if (auto v = present(fields, "width")) out.width = read_integer(*v, "width");
  if (auto v = present(fields, "height")) out.height = read_integer(*v, "height");
  if (auto v = present(fields, "n")) out.n = read_integer(*v, "n");
  if (auto v = present(fields, "scheduler")) out.scheduler = read_text(*v, "scheduler");
  if (auto v = present(fields, "seed")) out.seed = read_integer(*v, "seed");
  if (auto v = present(fields, "init_image")) out.init_image = read_text(*v, "init_image");
  if (auto v = present(fields, "strength")) {
    if (!v->is_number()) throw invalid_field("strength", "strength must be a number");
    out.strength = v->get<double>();
  }
  if (auto v = present(fields, "loras")) out.loras = read_loras(*v);
  if (auto v = present(fields, "previews")) {
    if (!v->is_boolean()) throw invalid_field("previews", "previews must be true or false");
    out.previews = v->get<bool>();
  }
  if (auto v = present(fields, "webhook")) out.webhook = read_text(*v, "webhook");
  return out;
}

generate_fields read_predict_body(const std::string& body) {
  json fields = parse_json_object(body);
  generate_fields out;
  out.prompt = read_prompt(fields);
  if (auto flag = present(fields, "high_quality")) {
    if (!flag->is_boolean())
      throw invalid_field("high_quality", "high_quality must be true or false");
    out.quality_steps = flag->get<bool>();
  }
  return out;
}

generate_request validate_generate_fields(const generate_fields& fields, const request_rules& rules,
                                          uint64_t drawn_seed) {
  actors::sample_request sample;
  sample.prompt =
      checked_text(fields.prompt, "prompt", rules.max_prompt_chars, !fields.empty_prompt_allowed);
  if (fields.negative_prompt)
    sample.negative_prompt =
        checked_text(*fields.negative_prompt, "negative_prompt", rules.max_prompt_chars, false);
  sample.steps = fields.quality_steps ? rules.model.quality_steps : rules.model.fast_steps;
  if (fields.steps) sample.steps = int(in_range(*fields.steps, "steps", 1, rules.limits.max_steps));
  sample.guidance_scale = rules.model.guidance_scale;
  if (fields.guidance_scale)
    sample.guidance_scale = float(number_in_range(*fields.guidance_scale, "guidance_scale", 0, 30));
  if (fields.strength && !fields.has_init_image())
    throw invalid_field("strength", "strength applies to an init_image only");
  if (fields.has_init_image()) {
    set_init_image(sample, fields, rules);
    if (fields.strength) sample.strength = checked_strength(*fields.strength, sample.steps);
    checked_strength(sample.strength, sample.steps);
  } else {
    sample.width =
        fields.width ? checked_size(*fields.width, "width", rules.limits) : default_width(rules);
    sample.height = fields.height ? checked_size(*fields.height, "height", rules.limits)
                                  : default_height(rules);
    check_area(sample, fields, rules.limits);
  }
  const int n = fields.n ? int(in_range(*fields.n, "n", 1, rules.model.max_images_per_request)) : 1;
  sample.scheduler =
      fields.scheduler ? checked_scheduler(*fields.scheduler, rules) : rules.model.scheduler;
  sample.loras = checked_loras(fields.loras);
  // About ten previews whatever the step count: one every tenth of the steps that run.
  if (fields.previews) sample.preview_every = std::max(1, (denoising_steps(sample) + 9) / 10);
  uint64_t seed = std::min(drawn_seed, max_seed);
  if (fields.seed) {
    seed = uint64_t(in_range(*fields.seed, "seed", 0, int64_t(max_seed)));
    if (seed + uint64_t(n - 1) > max_seed)
      throw invalid_field("seed", "seed + n - 1 must be at most " + std::to_string(max_seed));
  } else {
    seed = std::min(seed, max_seed - uint64_t(n - 1));
  }
  auto request = expand(sample, seed, n);
  request.model = rules.model.name;
  request.denoising_steps = denoising_steps(sample);  // checked >= 1 above
  return request;
}

int denoising_steps(const actors::sample_request& sample) {
  if (sample.init_image.width == 0) return sample.steps;
  return std::min(int(double(sample.steps) * sample.strength), sample.steps);
}

generate_request parse_generate_request(const std::string& body, const request_rules& rules,
                                        uint64_t drawn_seed) {
  return validate_generate_fields(read_generate_body(body), rules, drawn_seed);
}

generate_request parse_predict_request(const std::string& body, const request_rules& rules,
                                       uint64_t drawn_seed) {
  return validate_generate_fields(read_predict_body(body), rules, drawn_seed);
}

}  // namespace muse::http
