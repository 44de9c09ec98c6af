#include "http/form_request.hpp"

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

// The text as a JSON number when it is one ("25", "0.5", "1e3"), else nothing.
std::optional<nlohmann::json> as_number(const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_number()) return std::nullopt;
  return value;
}

}  // namespace

std::vector<form_part> read_multipart_body(const std::string& content_type,
                                           const std::string& body) {
  return parse_multipart_form(body, multipart_boundary(content_type));
}

form_fields read_form_fields(const std::vector<form_part>& parts,
                             const std::set<std::string>& numeric_names,
                             const std::set<std::string>& file_names) {
  form_fields out;
  std::set<std::string> seen;
  for (const auto& part : parts) {
    if (part.filename) {
      if (!file_names.count(part.name))
        throw invalid_field(part.name, part.name + " must be a text field, not a file");
      out.files.emplace_back(part.name, part.body);
      continue;
    }
    if (!seen.insert(part.name).second)
      throw invalid_field(part.name, part.name + " is given twice");
    require_utf8(part.body, part.name);
    if (part.body.empty()) continue;
    std::optional<nlohmann::json> number;
    if (numeric_names.count(part.name)) number = as_number(part.body);
    out.text[part.name] = number ? *number : nlohmann::json(part.body);
  }
  return out;
}

generate_fields read_generate_input(const std::string& content_type, const std::string& body,
                                    native_route route) {
  if (!is_multipart_form(content_type)) return read_generate_body(body, route);
  form_fields form = read_form_fields(
      read_multipart_body(content_type, body),
      {"steps", "guidance_scale", "seed", "width", "height", "n", "strength"}, {"init_image"});
  if (form.files.size() > 1 || (!form.files.empty() && form.text.contains("init_image")))
    throw invalid_field("init_image", "init_image is given twice");
  // A flag's text is true or false.
  if (auto flag = form.text.find("previews");
      flag != form.text.end() && (*flag == "true" || *flag == "false"))
    *flag = *flag == "true";
  generate_fields fields = read_generate_object(form.text, route);
  if (!form.files.empty()) fields.init_image_upload = form.files.front().second;
  return fields;
}

}  // namespace muse::http
