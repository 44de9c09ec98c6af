#include "http/slack_form.hpp"

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string form_unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += char(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_slack_form(const std::string& body) {
  std::map<std::string, std::string> fields;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    std::string pair = body.substr(start, end - start);
    size_t eq = pair.find('=');
    if (eq != std::string::npos)
      fields[form_unescape(pair.substr(0, eq))] = form_unescape(pair.substr(eq + 1));
    start = end + 1;
  }
  for (const auto& [name, value] : fields) {
    if (invalid_utf8_offset(name) != std::string::npos)
      throw api_error(400, "invalid_request", "a form field's name is not valid UTF-8");
    require_utf8(value, name);
  }
  return fields;
}

}  // namespace muse::http
