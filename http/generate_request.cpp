#include "http/generate_request.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

using nlohmann::json;

// Integral JSON numbers (25 or 25.0) within [low, high].
int64_t integer_field(const json& value, const std::string& name, int64_t low, int64_t high) {
  const std::string range = std::to_string(low) + ".." + std::to_string(high);
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > uint64_t(high) || (low > 0 && v < uint64_t(low)))
      throw invalid_field(name, name + " must be " + range);
    return int64_t(v);
  }
  if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    if (v < low || v > high) throw invalid_field(name, name + " must be " + range);
    return v;
  }
  if (value.is_number_float()) {
    double v = value.get<double>();
    if (!std::isfinite(v) || v != std::floor(v))
      throw invalid_field(name, name + " must be an integer");
    if (v < double(low) || v > double(high)) throw invalid_field(name, name + " must be " + range);
    return int64_t(v);
  }
  throw invalid_field(name, name + " must be an integer");
}

double number_field(const json& value, const std::string& name, double low, double high) {
  if (!value.is_number()) throw invalid_field(name, name + " must be a number");
  double v = value.get<double>();
  if (!(v >= low && v <= high)) {
    char range[64];
    std::snprintf(range, sizeof range, "%g..%g", low, high);
    throw invalid_field(name, name + " must be " + range);
  }
  return v;
}

std::string text_field(const json& value, const std::string& name, size_t max_chars,
                       bool required_non_empty) {
  if (!value.is_string()) throw invalid_field(name, name + " must be a string");
  std::string text = value.get<std::string>();
  bool blank = std::all_of(text.begin(), text.end(),
                           [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
  if (required_non_empty && blank) throw invalid_field(name, name + " must not be empty");
  if (utf8_length(text) > max_chars)
    throw invalid_field(name,
                        name + " must be at most " + std::to_string(max_chars) + " characters");
  return text;
}

std::string required_prompt(const json& body, size_t max_chars) {
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null())
    throw invalid_field("prompt", "prompt is required");
  return text_field(*prompt, "prompt", max_chars, true);
}

int size_field(const json& value, const std::string& name, const actors::model_limits& limits) {
  int size = int(integer_field(value, name, limits.min_size, limits.max_size));
  if (limits.size_multiple > 1 && size % limits.size_multiple != 0)
    throw invalid_field(name,
                        name + " must be a multiple of " + std::to_string(limits.size_multiple));
  return size;
}

// The picture's area against the largest the worker's memory budget fits; names the field the
// body gave (width when it gave both or neither).
void check_area(const actors::sample_request& sample, const json& fields, const actors::model_limits& limits) {
  if (int64_t(sample.width) * sample.height <= limits.max_pixels) return;
  const bool height_only = !fields.contains("width") && fields.contains("height");
  std::string budget;
  if (limits.memory_budget_mb > 0)
    budget = " under the worker's memory budget of " + std::to_string(limits.memory_budget_mb) + " MB";
  const int64_t multiple = std::max(limits.size_multiple, 1);
  int64_t side = int64_t(std::sqrt(double(limits.max_pixels))) / multiple * multiple;
  while (side > 0 && side * side > limits.max_pixels) side -= multiple;
  throw invalid_field(height_only ? "height" : "width",
                      "width x height " + std::to_string(sample.width) + "x" + std::to_string(sample.height) +
                          " is over this model's limit of " + std::to_string(limits.max_pixels) + " pixels" +
                          budget + "; the largest square that fits is " + std::to_string(side) + "x" +
                          std::to_string(side));
}

std::string scheduler_field(const json& value, const request_rules& rules) {
  if (!value.is_string()) throw invalid_field("scheduler", "scheduler must be a string");
  std::string name = value.get<std::string>();
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

}  // namespace

size_t utf8_length(const std::string& text) {
  return size_t(
      std::count_if(text.begin(), text.end(), [](char c) { return (uint8_t(c) & 0xC0) != 0x80; }));
}

generate_request parse_generate_request(const std::string& body, const request_rules& rules,
                                        uint64_t drawn_seed) {
  static const std::set<std::string> known_fields = {
      "prompt", "negative_prompt", "quality", "steps", "guidance_scale",
      "seed",   "width",           "height",  "n",     "scheduler"};
  json fields = parse_json_object(body);
  for (const auto& [name, value] : fields.items())
    if (!known_fields.count(name)) throw invalid_field(name, "unknown field '" + name + "'");

  actors::sample_request sample;
  sample.prompt = required_prompt(fields, rules.max_prompt_chars);
  sample.steps = rules.model.fast_steps;
  sample.guidance_scale = rules.model.guidance_scale;
  sample.width = default_width(rules);
  sample.height = default_height(rules);
  sample.scheduler = rules.model.scheduler;
  int n = 1;
  uint64_t seed = std::min(drawn_seed, max_seed);

  // `null` counts as absent, as JavaScript clients often send it for unset options.
  auto present = [&](const char* name) -> const json* {
    auto it = fields.find(name);
    return it == fields.end() || it->is_null() ? nullptr : &*it;
  };
  if (auto v = present("negative_prompt"))
    sample.negative_prompt = text_field(*v, "negative_prompt", rules.max_prompt_chars, false);
  if (auto v = present("quality")) {
    if (!v->is_string() || (*v != "fast" && *v != "quality"))
      throw invalid_field("quality", "quality must be \"fast\" or \"quality\"");
    sample.steps = *v == "fast" ? rules.model.fast_steps : rules.model.quality_steps;
  }
  if (auto v = present("steps"))
    sample.steps = int(integer_field(*v, "steps", 1, rules.limits.max_steps));
  if (auto v = present("guidance_scale"))
    sample.guidance_scale = float(number_field(*v, "guidance_scale", 0, 30));
  if (auto v = present("width")) sample.width = size_field(*v, "width", rules.limits);
  if (auto v = present("height")) sample.height = size_field(*v, "height", rules.limits);
  check_area(sample, fields, rules.limits);
  if (auto v = present("n")) n = int(integer_field(*v, "n", 1, rules.model.max_images_per_request));
  if (auto v = present("scheduler")) sample.scheduler = scheduler_field(*v, rules);
  if (auto v = present("seed")) {
    seed = uint64_t(integer_field(*v, "seed", 0, int64_t(max_seed)));
    if (seed + uint64_t(n - 1) > max_seed)
      throw invalid_field("seed", "seed + n - 1 must be at most " + std::to_string(max_seed));
  } else {
    seed = std::min(seed, max_seed - uint64_t(n - 1));
  }
  return expand(sample, seed, n);
}

generate_request parse_predict_request(const std::string& body, const request_rules& rules,
                                       uint64_t drawn_seed) {
  json fields = parse_json_object(body);
  actors::sample_request sample;
  sample.prompt = required_prompt(fields, rules.max_prompt_chars);
  bool high_quality = false;
  auto flag = fields.find("high_quality");
  if (flag != fields.end() && !flag->is_null()) {
    if (!flag->is_boolean())
      throw invalid_field("high_quality", "high_quality must be true or false");
    high_quality = flag->get<bool>();
  }
  sample.steps = high_quality ? rules.model.quality_steps : rules.model.fast_steps;
  sample.guidance_scale = rules.model.guidance_scale;
  sample.width = default_width(rules);
  sample.height = default_height(rules);
  sample.scheduler = rules.model.scheduler;
  check_area(sample, fields, rules.limits);
  return expand(sample, std::min(drawn_seed, max_seed), 1);
}

}  // namespace muse::http
