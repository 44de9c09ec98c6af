#include "http/multipart_form.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <utility>

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

[[noreturn]] void malformed(const std::string& what) {
  throw api_error(400, "invalid_multipart", "multipart/form-data body: " + what);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_spaces(std::string_view text, size_t& at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
}

std::string_view read_token(std::string_view text, size_t& at) {
  const size_t start = at;
  while (at < text.size() && token_char(text[at])) ++at;
  return text.substr(start, at - start);
}

// A header value of the form `type *(; name=value)` (RFC 7231's media type and RFC 6266's
// disposition share it): a value is a token or a quoted string.
struct parameterized {
  std::string type;                                         // lowercased
  std::vector<std::pair<std::string, std::string>> params;  // names lowercased
};

std::optional<parameterized> parse_parameterized(std::string_view text) {
  parameterized out;
  size_t at = 0;
  skip_spaces(text, at);
  const size_t type_start = at;
  while (at < text.size() && (token_char(text[at]) || text[at] == '/')) ++at;
  if (at == type_start) return std::nullopt;
  out.type = lowercase(text.substr(type_start, at - type_start));
  while (true) {
    skip_spaces(text, at);
    if (at == text.size()) return out;
    if (text[at] != ';') return std::nullopt;
    ++at;
    skip_spaces(text, at);
    const std::string name = lowercase(read_token(text, at));
    if (name.empty() || at == text.size() || text[at] != '=') return std::nullopt;
    ++at;
    std::string value;
    if (at < text.size() && text[at] == '"') {
      ++at;
      bool closed = false;
      while (at < text.size()) {
        const char c = text[at++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (at == text.size()) return std::nullopt;
          value += text[at++];
        } else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) {
          return std::nullopt;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      value = std::string(read_token(text, at));
      if (value.empty()) return std::nullopt;
    }
    for (const auto& p : out.params)
      if (p.first == name) return std::nullopt;
    out.params.emplace_back(name, std::move(value));
  }
}

const std::string* find_param(const parameterized& value, const std::string& name) {
  for (const auto& p : value.params)
    if (p.first == name) return &p.second;
  return nullptr;
}

// RFC 2046's bcharsnospace; a space may be inside a boundary but not last.
bool boundary_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

std::string part_label(size_t index) { return "part " + std::to_string(index + 1); }

// One part's header block (the lines between the delimiter and the blank line) into `part`.
void read_part_headers(std::string_view block, size_t index, form_part& part) {
  const std::string label = part_label(index);
  bool has_disposition = false, has_type = false;
  size_t at = 0;
  while (at < block.size()) {
    size_t end = block.find("\r\n", at);
    if (end == std::string_view::npos) end = block.size();
    const std::string_view line = block.substr(at, end - at);
    at = end + 2;
    if (line.find_first_of("\r\n") != std::string_view::npos)
      malformed(label + ": a bare CR or LF in its headers");
    size_t cursor = 0;
    const std::string name = lowercase(read_token(line, cursor));
    if (name.empty() || cursor == line.size() || line[cursor] != ':')
      malformed(label + ": a header line that is not \"Name: value\"");
    const std::string_view value = line.substr(cursor + 1);
    if (name == "content-disposition") {
      if (has_disposition) malformed(label + ": two Content-Disposition headers");
      has_disposition = true;
      const auto disposition = parse_parameterized(value);
      if (!disposition) malformed(label + ": a malformed Content-Disposition");
      if (disposition->type != "form-data")
        malformed(label + ": Content-Disposition must be form-data");
      const std::string* field = find_param(*disposition, "name");
      if (!field || field->empty()) malformed(label + ": Content-Disposition has no name");
      if (invalid_utf8_offset(*field) != std::string::npos)
        malformed(label + ": its name is not UTF-8");
      part.name = *field;
      if (const std::string* file = find_param(*disposition, "filename")) {
        if (invalid_utf8_offset(*file) != std::string::npos)
          malformed(label + ": its filename is not UTF-8");
        part.filename = *file;
      }
    } else if (name == "content-type") {
      if (has_type) malformed(label + ": two Content-Type headers");
      has_type = true;
      size_t from = 0;
      skip_spaces(value, from);
      part.content_type = std::string(value.substr(from));
      while (!part.content_type.empty() &&
             (part.content_type.back() == ' ' || part.content_type.back() == '\t'))
        part.content_type.pop_back();
    } else if (name == "content-transfer-encoding") {
      // RFC 7578 4.7: deprecated; only the identity encodings are taken.
      const auto encoding = parse_parameterized(value);
      if (!encoding || !encoding->params.empty() ||
          (encoding->type != "binary" && encoding->type != "8bit" && encoding->type != "7bit"))
        malformed(label + ": only the binary, 8bit and 7bit Content-Transfer-Encodings are read " +
                  "(send the bytes as they are)");
    }
    // Other headers (RFC 7578 allows none that matter here) are ignored.
  }
  if (!has_disposition) malformed(label + ": no Content-Disposition header");
}

}  // namespace

bool is_multipart_form(const std::string& content_type) {
  const auto value = parse_parameterized(content_type);
  if (value) return value->type == "multipart/form-data";
  // A malformed parameter list still names its media type first.
  const auto semicolon = content_type.find(';');
  std::string type = lowercase(content_type.substr(0, semicolon));
  type.erase(std::remove(type.begin(), type.end(), ' '), type.end());
  return type == "multipart/form-data";
}

std::string multipart_boundary(const std::string& content_type) {
  const auto value = parse_parameterized(content_type);
  if (!value) malformed("a malformed Content-Type header");
  const std::string* boundary = find_param(*value, "boundary");
  if (!boundary) malformed("the Content-Type names no boundary");
  if (boundary->empty() || boundary->size() > 70 || boundary->back() == ' ' ||
      !std::all_of(boundary->begin(), boundary->end(), boundary_char))
    malformed("the boundary must be 1 to 70 characters of RFC 2046's set, not ending in a space");
  return *boundary;
}

std::vector<form_part> parse_multipart_form(const std::string& body, const std::string& boundary,
                                            const multipart_limits& limits) {
  const std::string delimiter = "--" + boundary;
  if (body.compare(0, delimiter.size(), delimiter) != 0)
    malformed("it does not start with the boundary delimiter");
  std::vector<form_part> parts;
  size_t at = delimiter.size();
  while (true) {
    if (body.compare(at, 2, "--") == 0) {
      at += 2;
      if (at != body.size() && body.compare(at, std::string::npos, "\r\n") != 0)
        malformed("data after the closing boundary delimiter");
      if (parts.empty()) malformed("no parts");
      return parts;
    }
    if (body.compare(at, 2, "\r\n") != 0)
      malformed((parts.empty() ? std::string("the first boundary delimiter")
                               : "the boundary delimiter after " + part_label(parts.size() - 1)) +
                " is followed by neither CRLF nor \"--\"");
    at += 2;
    if (parts.size() == limits.max_parts)
      malformed("more than " + std::to_string(limits.max_parts) + " parts");
    const size_t index = parts.size();
    // The header block ends at a blank line; with no headers at all, right away.
    size_t block_end = body.compare(at, 2, "\r\n") == 0 ? at : body.find("\r\n\r\n", at);
    size_t content = block_end == at ? at + 2 : block_end + 4;
    if (block_end == std::string::npos)
      malformed(part_label(index) + ": its headers do not end (no blank line)");
    if (block_end - at > limits.max_header_bytes)
      malformed(part_label(index) + ": headers over " + std::to_string(limits.max_header_bytes) +
                " bytes");
    form_part part;
    read_part_headers(std::string_view(body).substr(at, block_end - at), index, part);
    const size_t end = body.find("\r\n" + delimiter, content);
    if (end == std::string::npos)
      malformed(part_label(index) + ": no boundary delimiter after it (the body ends early)");
    part.body = body.substr(content, end - content);
    parts.push_back(std::move(part));
    at = end + 2 + delimiter.size();
  }
}

}  // namespace muse::http
