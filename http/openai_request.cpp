#include "http/openai_request.hpp"

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "http/api_error.hpp"
#include "http/form_request.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

// Fields OpenAI defines that change nothing here; anything else is refused.
const std::set<std::string> ignored_fields = {"style",         "user",       "output_format",
                                              "background",    "moderation", "output_compression",
                                              "input_fidelity"};

bool ignored_field(const std::string& name) { return ignored_fields.count(name) > 0; }

// Every field a route takes, for the "did you mean" of an unknown one.
std::set<std::string> known_fields(std::initializer_list<const char*> own) {
  std::set<std::string> known = ignored_fields;
  known.insert({"size", "quality", "response_format", "n", "loras", "model"});
  for (const char* name : own) known.insert(name);
  return known;
}

// One of the fields every Images route shares (size, quality, response_format) into `out`;
// false for any other name.
bool read_shared_field(const std::string& name, const nlohmann::json& value,
                       const config::model_config& model, openai_request& out) {
  if (name == "size") {
    static const std::regex size_pattern("([0-9]{1,5})x([0-9]{1,5})");
    std::smatch m;
    std::string text = value.is_string() ? value.get<std::string>() : "";
    if (text == "auto") return true;
    if (!std::regex_match(text, m, size_pattern))
      throw invalid_field("size", "size must be \"WIDTHxHEIGHT\", e.g. \"" +
                                      std::to_string(model.width) + "x" +
                                      std::to_string(model.height) + "\"");
    out.fields.width = std::stoi(m[1]);
    out.fields.height = std::stoi(m[2]);
  } else if (name == "quality") {
    std::string q = value.is_string() ? value.get<std::string>() : "";
    if (q == "standard" || q == "low" || q == "medium" || q == "auto")
      out.fields.quality_steps = false;
    else if (q == "hd" || q == "high")
      out.fields.quality_steps = true;
    else
      throw invalid_field("quality", "quality must be \"standard\" or \"hd\"");
  } else if (name == "loras") {
    out.fields.loras = read_loras(value);
  } else if (name == "response_format") {
    std::string f = value.is_string() ? value.get<std::string>() : "";
    if (f != "b64_json" && f != "url")
      throw invalid_field("response_format", "response_format must be \"b64_json\" or \"url\"");
    out.as_url = f == "url";
  } else {
    return false;
  }
  return true;
}

}  // namespace

openai_request translate_openai_request(const std::string& body,
                                        const config::model_config& model) {
  nlohmann::json in = parse_json_object(body);
  openai_request out;
  const nlohmann::json* n = nullptr;
  for (const auto& [name, value] : in.items()) {
    if (value.is_null() || ignored_field(name)) continue;
    if (name == "prompt") {
      // Read below, after the fields only OpenAI defines.
    } else if (name == "n") {
      n = &value;
    } else if (name == "model") {
      out.fields.model = read_text(value, "model");
    } else if (!read_shared_field(name, value, model, out)) {
      throw unknown_field(name, known_fields({"prompt"}));
    }
  }
  out.fields.prompt = read_prompt(in);
  if (n) out.fields.n = read_integer(*n, "n");
  return out;
}

openai_request translate_openai_upload(const std::vector<form_part>& parts, openai_upload route,
                                       const config::model_config& model) {
  const bool edit = route == openai_upload::edit;
  for (const auto& part : parts)
    if (part.name == "mask")
      throw invalid_field("mask",
                          "inpainting is not supported: send the image without a mask (it is "
                          "reworked as a whole, image to image)");
  const form_fields form = read_form_fields(parts, {"n"}, {"image", "image[]"});
  openai_request out;
  for (const auto& [name, value] : form.text.items()) {
    if (ignored_field(name) || (edit && name == "prompt")) continue;
    if (name == "image" || name == "image[]")
      throw invalid_field("image", "image must be a file (a part with a filename)");
    if (name == "n") {
      out.fields.n = read_integer(value, "n");
    } else if (name == "model") {
      out.fields.model = read_text(value, "model");
    } else if (!read_shared_field(name, value, model, out)) {
      throw unknown_field(name, edit ? known_fields({"prompt", "image"}) : known_fields({"image"}),
                          name == "prompt" ? " (variations take no prompt)" : "");
    }
  }
  if (form.files.empty()) throw invalid_field("image", "image is required (a PNG or JPEG file)");
  if (form.files.size() > 1)
    throw invalid_field("image",
                        "one image only: " + std::to_string(form.files.size()) + " were sent");
  out.fields.init_image_upload = form.files.front().second;
  if (edit) {
    out.fields.prompt = read_prompt(form.text);
    out.fields.strength = openai_edit_strength;
  } else {
    out.fields.empty_prompt_allowed = true;
    out.fields.strength = openai_variation_strength;
  }
  return out;
}

}  // namespace muse::http
