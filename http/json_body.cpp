#include "http/json_body.hpp"

#include "http/api_error.hpp"

namespace muse::http {
namespace {

using nlohmann::json;

// Thrown from the parser's callback to stop at the first container past the limit: the parser
// unwinds with at most max_json_depth levels built, and nothing reads the rest of the body.
struct nesting_too_deep {};

// Which top-level field the parser is inside, so that a failure there can name it.
class field_tracker {
 public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        // `depth` counts the containers around this one.
        if (depth >= max_json_depth) throw nesting_too_deep{};
        break;
      case json::parse_event_t::key:
        if (depth == 1) {
          field_ = parsed.get<std::string>();
          in_value_ = true;
        }
        break;
      case json::parse_event_t::value:
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (depth == 1) in_value_ = false;
        break;
    }
    return true;
  }
  // The top-level field whose value was being read, or "" between fields.
  std::string field() const { return in_value_ ? field_ : ""; }

 private:
  std::string field_;
  bool in_value_ = false;
};

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t invalid_utf8_offset(const std::string& text) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte (Unicode table 3-7)
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return i;
    }
    if (i + length > n) return i;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return i;
    for (size_t k = 2; k < length; ++k)
      if (!continuation(static_cast<unsigned char>(text[i + k]))) return i;
    i += length;
  }
  return std::string::npos;
}

void require_utf8(const std::string& text, const std::string& field) {
  if (invalid_utf8_offset(text) != std::string::npos)
    throw invalid_field(field, field + " is not valid UTF-8");
}

json parse_json_body(const std::string& body) {
  field_tracker tracker;
  try {
    // The parser calls a copy of the callback: it holds the tracker by reference.
    return json::parse(body, [&tracker](int depth, json::parse_event_t event, json& parsed) {
      return tracker(depth, event, parsed);
    });
  } catch (const nesting_too_deep&) {
    throw api_error(400, "invalid_request",
                    "the body nests deeper than " + std::to_string(max_json_depth) + " levels",
                    tracker.field());
  } catch (const json::parse_error& error) {
    // The parser stops on the first byte it cannot take; when that is at or past the first
    // byte that is not UTF-8, the text is what is wrong, not the JSON around it.
    const size_t bad = invalid_utf8_offset(body);
    if (bad != std::string::npos && error.byte > bad) {
      const std::string field = tracker.field();
      if (!field.empty()) throw invalid_field(field, field + " is not valid UTF-8");
      throw api_error(400, "invalid_json", "the body is not valid UTF-8");
    }
    throw api_error(400, "invalid_json",
                    "the body is not valid JSON (byte " + std::to_string(error.byte) + ")");
  } catch (const json::exception&) {
    // A number too large for a double (1e999), reported apart from syntax errors.
    throw api_error(400, "invalid_json", "the body holds a number out of range");
  }
}

json parse_json_object(const std::string& body) {
  json parsed = parse_json_body(body);
  if (!parsed.is_object()) throw api_error(400, "invalid_json", "the body must be a JSON object");
  return parsed;
}

}  // namespace muse::http
