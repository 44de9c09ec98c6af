#include "http/a1111_request.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <regex>

#include "http/base64.hpp"
#include "http/json_body.hpp"
#include "http/png_parameters.hpp"

namespace muse::http {
namespace {

using nlohmann::json;

// What A1111's request schema (pydantic, behind FastAPI) refuses, FastAPI answers 422: a body
// that is not JSON, a value of the wrong type.
api_error schema_error(const std::string& field, const std::string& message) {
  return api_error(422, "invalid_request", message, field);
}

int64_t integer_of(const json& value, const std::string& name) {
  try {
    return read_integer(value, name);
  } catch (const api_error& e) {
    throw schema_error(name, e.what());
  }
}

double number_of(const json& value, const std::string& name) {
  if (!value.is_number()) throw schema_error(name, name + " must be a number");
  return value.get<double>();
}

std::string text_of(const json& value, const std::string& name) {
  if (!value.is_string()) throw schema_error(name, name + " must be a string");
  return value.get<std::string>();
}

bool boolean_of(const json& value, const std::string& name) {
  if (!value.is_boolean()) throw schema_error(name, name + " must be true or false");
  return value.get<bool>();
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

// Fields that cannot change the picture: accepted with any value and ignored. Most matter only
// with a feature refused below when it is on (high-resolution fix, scripts, variation seeds,
// churn, a refiner, a mask), or are about saving files on A1111's disk.
bool ignored_field(const std::string& name, a1111_route route) {
  static const std::vector<std::string> both = {"save_images",
                                                "do_not_save_samples",
                                                "do_not_save_grid",
                                                "override_settings_restore_afterwards",
                                                "disable_extra_networks",
                                                "force_task_id",
                                                "comments",
                                                "subseed",
                                                "s_tmin",
                                                "s_tmax",
                                                "refiner_switch_at",
                                                "script_args"};
  static const std::vector<std::string> txt2img = {
      "denoising_strength", "firstphase_width",     "firstphase_height", "hr_scale",
      "hr_upscaler",        "hr_second_pass_steps", "hr_resize_x",       "hr_resize_y",
      "hr_checkpoint_name", "hr_sampler_name",      "hr_scheduler",      "hr_prompt",
      "hr_negative_prompt", "hr_additional_modules"};
  static const std::vector<std::string> img2img = {
      "resize_mode",           "image_cfg_scale",  "mask_blur",
      "mask_blur_x",           "mask_blur_y",      "mask_round",
      "inpainting_fill",       "inpaint_full_res", "inpaint_full_res_padding",
      "inpainting_mask_invert"};
  auto in = [&](const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  return in(both) || in(route == a1111_route::txt2img ? txt2img : img2img);
}

// A field that would change the picture in a way this server cannot: accepted only with the
// value that leaves the picture as it is.
struct neutral_rule {
  std::string neutral;  // the accepted value, as the error says it
  std::string why;      // what is not supported
  std::function<bool(const json&)> holds;
};

bool is_false(const json& v) { return v.is_boolean() && !v.get<bool>(); }
bool no_text(const json& v) {
  return v.is_string() && (v.get<std::string>().empty() || v.get<std::string>() == "None");
}
std::function<bool(const json&)> number_is(double expected) {
  return [expected](const json& v) { return v.is_number() && v.get<double>() == expected; };
}
bool seed_resize_off(const json& v) {
  return v.is_number() && (v.get<double>() == -1 || v.get<double>() == 0);
}

const neutral_rule* neutral_rule_of(const std::string& name, a1111_route route) {
  static const std::map<std::string, neutral_rule> both = {
      {"enable_hr", {"false", "the high-resolution fix is not supported", is_false}},
      {"restore_faces", {"false", "face restoration is not supported", is_false}},
      {"tiling", {"false", "tiling is not supported", is_false}},
      {"styles",
       {"[]", "saved styles are not supported: put their text in the prompt",
        [](const json& v) { return v.is_array() && v.empty(); }}},
      {"override_settings",
       {"{}", "settings overrides are not supported",
        [](const json& v) { return v.is_object() && v.empty(); }}},
      {"alwayson_scripts",
       {"{}", "scripts are not supported",
        [](const json& v) { return v.is_object() && v.empty(); }}},
      {"script_name", {"\"\"", "scripts are not supported", no_text}},
      {"subseed_strength", {"0", "variation seeds are not supported", number_is(0)}},
      {"seed_resize_from_w", {"-1", "seed resizing is not supported", seed_resize_off}},
      {"seed_resize_from_h", {"-1", "seed resizing is not supported", seed_resize_off}},
      {"s_churn", {"0", "the sampler's churn is not supported", number_is(0)}},
      {"s_noise", {"1", "the sampler's noise is its own", number_is(1)}},
      {"s_min_uncond", {"0", "skipping the unconditional pass is not supported", number_is(0)}},
      {"refiner_checkpoint", {"\"\"", "a refiner model is not supported", no_text}},
      {"firstpass_image", {"null", "the high-resolution fix is not supported", no_text}},
      {"infotext", {"\"\"", "infotext is not read: send the fields themselves", no_text}},
  };
  static const std::map<std::string, neutral_rule> img2img = {
      {"mask", {"null", "inpainting is not supported", no_text}},
      {"latent_mask", {"null", "inpainting is not supported", no_text}},
      {"initial_noise_multiplier",
       {"1", "scaling the initial noise is not supported", number_is(1)}},
  };
  if (auto it = both.find(name); it != both.end()) return &it->second;
  if (route == a1111_route::img2img)
    if (auto it = img2img.find(name); it != img2img.end()) return &it->second;
  return nullptr;
}

std::string sampler_list(const request_rules& rules) {
  std::string list;
  for (const auto& sampler : a1111_samplers_of(rules.limits.schedulers.empty()
                                                   ? std::vector<std::string>{rules.model.scheduler}
                                                   : rules.limits.schedulers))
    list += (list.empty() ? "" : ", ") + std::string(sampler.name);
  return list;
}

bool served(const std::string& scheduler, const request_rules& rules) {
  const auto& known = rules.limits.schedulers;
  return known.empty() ? scheduler == rules.model.scheduler
                       : std::find(known.begin(), known.end(), scheduler) != known.end();
}

// A1111's sampler name (or an alias, or our own name; any case) -> our scheduler, served.
std::string scheduler_of_sampler(const std::string& name, const std::string& field,
                                 const request_rules& rules) {
  const std::string wanted = lower(name);
  for (const auto& sampler : a1111_samplers()) {
    bool match = lower(sampler.name) == wanted || sampler.scheduler == wanted;
    for (const char* alias : sampler.aliases) match |= lower(alias) == wanted;
    if (!match) continue;
    if (!served(sampler.scheduler, rules))
      throw invalid_field(field,
                          std::string("sampler ") + sampler.name +
                              " is not available for this model; it has: " + sampler_list(rules));
    return sampler.scheduler;
  }
  throw invalid_field(field,
                      "Sampler not found: " + name + "; this model has: " + sampler_list(rules));
}

// A1111's separate `scheduler` (the noise schedule, since its 1.9): "Automatic" keeps the
// sampler's own; "Karras" turns DPM++ 2M into DPM++ 2M Karras.
std::string apply_schedule(const std::string& schedule, const std::string& scheduler,
                           const request_rules& rules) {
  const std::string wanted = lower(schedule);
  if (wanted == "automatic") return scheduler;
  if (wanted == "karras" && (scheduler == "dpmpp_2m" || scheduler == "dpmpp_2m_karras")) {
    if (!served("dpmpp_2m_karras", rules))
      throw invalid_field("scheduler", "DPM++ 2M Karras is not available for this model");
    return "dpmpp_2m_karras";
  }
  throw invalid_field("scheduler",
                      "scheduler must be \"Automatic\" (the sampler's own schedule), or "
                      "\"Karras\" with DPM++ 2M; " +
                          schedule + " is not supported");
}

// eta is the sampler's: DDIM runs with 0, Euler a with 1 (all its noise); the other samplers
// take none.
void check_eta(const json& eta, const std::string& scheduler) {
  const double value = number_of(eta, "eta");
  const double own = scheduler == "ddim" ? 0 : scheduler == "euler_ancestral" ? 1 : value;
  if (value != own)
    throw invalid_field("eta", "eta must be " + std::to_string(int(own)) + " for " +
                                   a1111_sampler_name(scheduler) +
                                   ": other values are not "
                                   "supported");
}

// A float as JSON shows it without the float's noise (7.3, not 7.300000190734863).
double tidy(double value) { return std::round(value * 1e6) / 1e6; }

std::string timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &utc);
  return text;
}

// A1111's LoRA syntax in the prompt, "<lora:NAME>" or "<lora:NAME:SCALE>": each tag is taken
// out of the prompt (A1111 does not show it to the text encoder) into `loras`.
std::string take_lora_tags(const std::string& prompt, std::vector<actors::lora_choice>& loras) {
  static const std::regex tag("<lora:([^:>]+)(?::([^:>]*))?>");
  std::string rest;
  auto begin = std::sregex_iterator(prompt.begin(), prompt.end(), tag);
  size_t copied = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& match = *it;
    rest += prompt.substr(copied, size_t(match.position()) - copied);
    copied = size_t(match.position() + match.length());
    actors::lora_choice lora{match[1].str(), 1.0};
    if (match[2].matched) {
      char* end = nullptr;
      const std::string scale = match[2].str();
      lora.scale = std::strtod(scale.c_str(), &end);
      if (scale.empty() || end != scale.c_str() + scale.size())
        throw invalid_field("prompt",
                            "the LoRA tag " + match.str() + " has no number as its scale");
    }
    loras.push_back(std::move(lora));
  }
  return rest + prompt.substr(copied);
}

}  // namespace

const std::vector<a1111_sampler>& a1111_samplers() {
  static const std::vector<a1111_sampler> list = {
      {"DPM++ 2M", "dpmpp_2m", {"k_dpmpp_2m"}},
      {"DPM++ 2M Karras", "dpmpp_2m_karras", {"k_dpmpp_2m_ka"}},
      {"Euler a", "euler_ancestral", {"k_euler_a", "k_euler_ancestral"}},
      {"Euler", "euler", {"k_euler"}},
      {"DDIM", "ddim", {"ddim"}},
      {"PLMS", "pndm", {"plms"}},
  };
  return list;
}

std::string a1111_sampler_name(const std::string& scheduler) {
  for (const auto& sampler : a1111_samplers())
    if (sampler.scheduler == scheduler) return sampler.name;
  return scheduler;
}

std::vector<a1111_sampler> a1111_samplers_of(const std::vector<std::string>& schedulers) {
  std::vector<a1111_sampler> out;
  for (const auto& sampler : a1111_samplers())
    if (std::find(schedulers.begin(), schedulers.end(), sampler.scheduler) != schedulers.end())
      out.push_back(sampler);
  return out;
}

a1111_request translate_a1111_request(const std::string& body, a1111_route route,
                                      const request_rules& rules) {
  json in;
  try {
    in = parse_json_object(body);
  } catch (const api_error& e) {
    throw api_error(422, e.code(), e.what(), e.field());
  }
  const bool img2img = route == a1111_route::img2img;
  a1111_request out;
  out.parameters = in;
  out.fields.empty_prompt_allowed = true;  // A1111's prompt defaults to ""
  std::optional<std::string> sampler_name, sampler_index, schedule;
  const json* eta = nullptr;
  for (const auto& [name, value] : in.items()) {
    if (value.is_null()) continue;
    if (name == "prompt") {
      out.fields.prompt = take_lora_tags(text_of(value, name), out.fields.loras);
    } else if (name == "negative_prompt") {
      out.fields.negative_prompt = text_of(value, name);
    } else if (name == "steps") {
      out.fields.steps = integer_of(value, name);
    } else if (name == "cfg_scale") {
      out.fields.guidance_scale = number_of(value, name);
    } else if (name == "width") {
      out.fields.width = integer_of(value, name);
    } else if (name == "height") {
      out.fields.height = integer_of(value, name);
    } else if (name == "seed") {
      const int64_t seed = integer_of(value, name);
      if (seed != -1) out.fields.seed = seed;  // -1: a random seed, as A1111
    } else if (name == "sampler_name") {
      sampler_name = text_of(value, name);
    } else if (name == "sampler_index") {
      sampler_index = text_of(value, name);
    } else if (name == "scheduler") {
      schedule = text_of(value, name);
    } else if (name == "batch_size" || name == "n_iter") {
      const int64_t count = integer_of(value, name);
      if (count < 1 || count > rules.model.max_images_per_request)
        throw invalid_field(
            name, name + " must be 1.." + std::to_string(rules.model.max_images_per_request));
      (name == "batch_size" ? out.batch_size : out.n_iter) = int(count);
    } else if (name == "send_images") {
      out.send_images = boolean_of(value, name);
    } else if (name == "eta") {
      eta = &value;
    } else if (img2img && name == "init_images") {
      if (!value.is_array()) throw schema_error(name, "init_images must be a list of images");
      if (value.size() != 1)
        throw invalid_field(name, "init_images must hold one image (base64 PNG or JPEG); " +
                                      std::to_string(value.size()) + " were sent");
      out.fields.init_image = text_of(value[0], name);
    } else if (img2img && name == "denoising_strength") {
      out.fields.strength = number_of(value, name);
    } else if (img2img && name == "include_init_images") {
      out.include_init_images = boolean_of(value, name);
    } else if (ignored_field(name, route)) {
      continue;
    } else if (const neutral_rule* rule = neutral_rule_of(name, route)) {
      if (!rule->holds(value))
        throw invalid_field(name, name + " must be " + rule->neutral + ": " + rule->why);
    } else {
      throw invalid_field(name, "unknown field " + name);
    }
  }
  if (img2img) {
    if (!out.fields.init_image)
      throw invalid_field("init_images", "init_images is required: one base64 PNG or JPEG");
    if (!out.fields.strength) out.fields.strength = a1111_default_strength;
  }
  const int64_t images = int64_t(out.batch_size) * out.n_iter;
  if (images > rules.model.max_images_per_request)
    throw invalid_field("batch_size", "batch_size x n_iter must be at most " +
                                          std::to_string(rules.model.max_images_per_request) +
                                          " (this server's images per request); it is " +
                                          std::to_string(images));
  out.fields.n = images;
  // A1111 takes sampler_name, else the older sampler_index (a name too).
  const bool by_name = sampler_name && !sampler_name->empty();
  const std::string sampler = by_name ? *sampler_name : sampler_index.value_or("");
  if (!sampler.empty())
    out.fields.scheduler =
        scheduler_of_sampler(sampler, by_name ? "sampler_name" : "sampler_index", rules);
  std::string scheduler = out.fields.scheduler.value_or(rules.model.scheduler);
  if (schedule) {
    scheduler = apply_schedule(*schedule, scheduler, rules);
    if (scheduler != rules.model.scheduler || out.fields.scheduler)
      out.fields.scheduler = scheduler;
  }
  if (eta) check_eta(*eta, scheduler);
  return out;
}

json a1111_images_body(const a1111_request& request, const generate_request& generated,
                       const actors::generate_outcome& outcome, const std::string& model_name) {
  const actors::sample_request& first = generated.samples.at(0);
  const bool image_to_image = request.fields.has_init_image();
  json images = json::array();
  json seeds = json::array();
  json infotexts = json::array();
  for (size_t i = 0; i < outcome.images.size(); ++i) {
    const auto& image = outcome.images[i];
    if (request.send_images) images.push_back(base64_encode(image.png));
    seeds.push_back(image.seed);
    infotexts.push_back(png_parameters(generated.samples.at(i), model_name));
  }
  const std::string sampler = a1111_sampler_name(first.scheduler);
  const double cfg_scale = tidy(first.guidance_scale);
  const json strength = image_to_image ? json(tidy(first.strength)) : json(nullptr);

  json parameters = request.parameters;
  auto fill = [&](const char* name, const json& value) {
    if (!parameters.contains(name) || parameters[name].is_null()) parameters[name] = value;
  };
  fill("prompt", first.prompt);
  fill("negative_prompt", first.negative_prompt);
  fill("seed", -1);
  fill("steps", first.steps);
  fill("cfg_scale", cfg_scale);
  fill("width", first.width);
  fill("height", first.height);
  fill("sampler_name", sampler);
  fill("batch_size", request.batch_size);
  fill("n_iter", request.n_iter);
  if (image_to_image) {
    fill("denoising_strength", strength);
    // As A1111: the images sent are echoed only when asked for.
    if (!request.include_init_images) parameters["init_images"] = nullptr;
  }

  const size_t count = outcome.images.size();
  json info = {{"prompt", first.prompt},
               {"all_prompts", json::array()},
               {"negative_prompt", first.negative_prompt},
               {"all_negative_prompts", json::array()},
               {"seed", seeds.empty() ? json(nullptr) : seeds[0]},
               {"all_seeds", seeds},
               {"subseed", seeds.empty() ? json(nullptr) : seeds[0]},
               {"all_subseeds", seeds},
               {"subseed_strength", 0},
               {"width", first.width},
               {"height", first.height},
               {"sampler_name", sampler},
               {"cfg_scale", cfg_scale},
               {"steps", first.steps},
               {"batch_size", request.batch_size},
               {"restore_faces", false},
               {"face_restoration_model", nullptr},
               {"sd_model_name", model_name},
               {"sd_model_hash", nullptr},
               {"seed_resize_from_w", -1},
               {"seed_resize_from_h", -1},
               {"denoising_strength", strength},
               {"extra_generation_params", json::object()},
               {"index_of_first_image", 0},
               {"infotexts", infotexts},
               {"styles", json::array()},
               {"job_timestamp", timestamp_now()},
               {"clip_skip", 1},
               {"is_using_inpainting_conditioning", false}};
  for (size_t i = 0; i < count; ++i) {
    info["all_prompts"].push_back(first.prompt);
    info["all_negative_prompts"].push_back(first.negative_prompt);
  }
  return {
      {"images", std::move(images)}, {"parameters", std::move(parameters)}, {"info", info.dump()}};
}

std::string a1111_field(const std::string& native) {
  if (native == "guidance_scale") return "cfg_scale";
  if (native == "scheduler") return "sampler_name";
  if (native == "init_image") return "init_images";
  if (native == "strength") return "denoising_strength";
  if (native == "n") return "batch_size";
  return native;
}

json a1111_error_body(const api_error& error) {
  const std::string field = a1111_field(error.field());
  std::string message = error.what();
  if (field != error.field() && message.rfind(error.field(), 0) == 0)
    message = field + message.substr(error.field().size());
  json body = {{"code", error.code()}, {"message", message}};
  if (!field.empty()) body["field"] = field;
  return {{"error", std::move(body)}, {"detail", message}};
}

}  // namespace muse::http
