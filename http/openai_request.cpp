#include "http/openai_request.hpp"

#include <nlohmann/json.hpp>
#include <regex>

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

// Fields OpenAI defines that change nothing here; anything else is refused.
bool ignored_field(const std::string& name) {
  return name == "model" || name == "style" || name == "user" || name == "output_format" ||
         name == "background" || name == "moderation" || name == "output_compression";
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
    } else if (name == "size") {
      static const std::regex size_pattern("([0-9]{1,5})x([0-9]{1,5})");
      std::smatch m;
      std::string text = value.is_string() ? value.get<std::string>() : "";
      if (text == "auto") continue;
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
    } else if (name == "response_format") {
      std::string f = value.is_string() ? value.get<std::string>() : "";
      if (f != "b64_json" && f != "url")
        throw invalid_field("response_format", "response_format must be \"b64_json\" or \"url\"");
      out.as_url = f == "url";
    } else {
      throw invalid_field(name, "unknown field " + name);
    }
  }
  out.fields.prompt = read_prompt(in);
  if (n) out.fields.n = read_integer(*n, "n");
  return out;
}

}  // namespace muse::http
