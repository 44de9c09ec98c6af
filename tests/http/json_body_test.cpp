#include "http/json_body.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "http/api_error.hpp"

using muse::http::api_error;
using muse::http::invalid_utf8_offset;
using muse::http::max_json_depth;
using muse::http::parse_json_body;
using muse::http::parse_json_object;

namespace {

// "code:field" of the error a body gets, or "accepted".
std::string rejection(const std::string& body) {
  try {
    parse_json_object(body);
    return "accepted";
  } catch (const api_error& error) {
    REQUIRE(error.status() == 400);
    return error.code() + ":" + error.field();
  }
}

std::string nested(const std::string& field, int depth) {
  return "{\"prompt\":\"x\",\"" + field + "\":" + std::string(size_t(depth), '[') +
         std::string(size_t(depth), ']') + "}";
}

}  // namespace

TEST_CASE("UTF-8 is checked as RFC 3629 defines it", "[json]") {
  CHECK(invalid_utf8_offset("") == std::string::npos);
  CHECK(invalid_utf8_offset("plain ascii") == std::string::npos);
  CHECK(invalid_utf8_offset("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == std::string::npos);
  CHECK(invalid_utf8_offset("\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF") == std::string::npos);
  CHECK(invalid_utf8_offset("ab\xFF") == 2);            // never in UTF-8
  CHECK(invalid_utf8_offset("\xC0\xAF") == 0);          // overlong '/'
  CHECK(invalid_utf8_offset("\xE0\x80\xAF") == 0);      // overlong, three bytes
  CHECK(invalid_utf8_offset("x\xED\xA0\x80") == 1);     // a UTF-16 surrogate
  CHECK(invalid_utf8_offset("\xE2\x82") == 0);          // cut short
  CHECK(invalid_utf8_offset("\xE2\x82x") == 0);         // cut short inside the text
  CHECK(invalid_utf8_offset("\xF4\x90\x80\x80") == 0);  // past U+10FFFF
  CHECK(invalid_utf8_offset("\x80") == 0);              // a lone continuation byte
}

TEST_CASE("JSON bodies nest at most max_json_depth levels", "[json]") {
  CHECK(rejection(nested("n", max_json_depth - 1)) == "accepted");
  CHECK(rejection(nested("n", max_json_depth)) == "invalid_request:n");
  // As deep as a crash needed: refused at level 65, without reading on.
  CHECK(rejection(nested("n", 100000)) == "invalid_request:n");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  CHECK(rejection(objects + "1" + std::string(100000, '}')) == "invalid_request:a");
  try {
    parse_json_body(std::string(100000, '[') + std::string(100000, ']'));
    FAIL("accepted");
  } catch (const api_error& error) {
    CHECK_THAT(error.what(), Catch::Contains("64 levels"));
  }
}

TEST_CASE("invalid UTF-8 in a field's text names the field", "[json]") {
  for (const char* bad : {"\xFF", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82"}) {
    INFO(bad);
    CHECK(rejection(std::string("{\"prompt\":\"a") + bad + "\"}") == "invalid_request:prompt");
    CHECK(rejection(std::string("{\"prompt\":\"a\",\"size\":\"") + bad + "\"}") ==
          "invalid_request:size");
    CHECK(rejection(std::string("{\"prompt\":[\"a\",{\"b\":\"") + bad + "\"}]}") ==
          "invalid_request:prompt");
    // In a field's name there is no field to name.
    CHECK(rejection(std::string("{\"prompt\":\"a\",\"") + bad + "\":1}") == "invalid_json:");
  }
  CHECK(rejection("{\"prompt\":\"caf\xC3\xA9\"}") == "accepted");
}

TEST_CASE("what is not JSON is invalid_json, whatever comes after it", "[json]") {
  CHECK(rejection("{\"prompt\": ") == "invalid_json:");
  CHECK(rejection("{\"prompt\": x, \"text\": \"\xFF\"}") == "invalid_json:");
  CHECK(rejection("{\"n\": 1e999}") == "invalid_json:");
  CHECK(rejection("{\"prompt\": \"\\ud800\"}") == "invalid_json:");
  CHECK(rejection("[1, 2]") == "invalid_json:");
  CHECK(rejection("") == "invalid_json:");
}
