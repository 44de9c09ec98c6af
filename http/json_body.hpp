#pragma once
// The one way http/ reads JSON it is sent. Nesting deeper than max_json_depth is refused while
// parsing, before anything recursive (a copy, a dump, a destructor) walks the value, and every
// failure is an api_error that says what was wrong:
// - 400 invalid_request naming the field when a top-level field's text is not UTF-8;
// - 400 invalid_request when the nesting is deeper than max_json_depth;
// - 400 invalid_json for anything else that is not JSON (or not UTF-8 outside a field's value).

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace muse::http {

constexpr int max_json_depth = 64;

nlohmann::json parse_json_body(const std::string& body);
// The same, and the value must be an object (400 invalid_json otherwise).
nlohmann::json parse_json_object(const std::string& body);

// Where `text` first stops being well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF, no cut sequence), or std::string::npos when it is all well-formed.
size_t invalid_utf8_offset(const std::string& text);

// 400 invalid_request naming `field` when `text` is not UTF-8; what every route checks text that
// does not come through the JSON parser with (form fields).
void require_utf8(const std::string& text, const std::string& field);

}  // namespace muse::http
