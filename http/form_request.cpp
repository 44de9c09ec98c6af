#include "http/form_request.hpp"

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

// The text as a JSON number or boolean when it spells one ("25", "0.5", "1e3", "true"), else
// nothing.
std::optional<nlohmann::json> as_scalar(const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded() || !(value.is_number() || value.is_boolean())) return std::nullopt;
  return value;
}

}  // namespace

std::vector<form_part> read_multipart_body(const std::string& content_type,
                                           const std::string& body) {
  return parse_multipart_form(body, multipart_boundary(content_type));
}

form_fields read_form_fields(const std::vector<form_part>& parts,
                             const std::set<std::string>& typed_names,
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
    std::optional<nlohmann::json> scalar;
    if (typed_names.count(part.name)) scalar = as_scalar(part.body);
    out.text[part.name] = scalar ? *scalar : nlohmann::json(part.body);
  }
  return out;
}

generate_fields read_generate_input(const std::string& content_type, const std::string& body,
                                    native_route route) {
  if (!is_multipart_form(content_type)) return read_generate_body(body, route);
  const form_fields form = read_form_fields(
      read_multipart_body(content_type, body),
      {"steps", "guidance_scale", "seed", "width", "height", "n", "strength", "previews"},
      {"init_image"});
  if (form.files.size() > 1 || (!form.files.empty() && form.text.contains("init_image")))
    throw invalid_field("init_image", "init_image is given twice");
  generate_fields fields = read_generate_object(form.text, route);
  if (!form.files.empty()) fields.init_image_upload = form.files.front().second;
  return fields;
}

}  // namespace muse::http
