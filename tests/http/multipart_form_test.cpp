// The multipart/form-data reader (http/multipart_form): the bodies clients send, and every
// malformation answered 400 invalid_multipart saying what.
#include "http/multipart_form.hpp"

#include <catch2/catch.hpp>

#include "http/api_error.hpp"

using Catch::Matchers::Contains;
using muse::http::api_error;
using muse::http::form_part;
using muse::http::is_multipart_form;
using muse::http::multipart_boundary;
using muse::http::multipart_limits;
using muse::http::parse_multipart_form;

namespace {

const std::string boundary = "XyZ-123";

std::string part(const std::string& headers, const std::string& body) {
  return "--" + boundary + "\r\n" + headers + "\r\n" + body + "\r\n";
}

std::string text_part(const std::string& name, const std::string& value) {
  return part("Content-Disposition: form-data; name=\"" + name + "\"\r\n", value);
}

std::string closing() { return "--" + boundary + "--\r\n"; }

// The message of the 400 a body gets, or "accepted".
std::string rejection(const std::string& body, const multipart_limits& limits = {}) {
  try {
    parse_multipart_form(body, boundary, limits);
    return "accepted";
  } catch (const api_error& error) {
    REQUIRE(error.status() == 400);
    CHECK(error.code() == "invalid_multipart");
    return error.what();
  }
}

std::string boundary_rejection(const std::string& content_type) {
  try {
    return "accepted: " + multipart_boundary(content_type);
  } catch (const api_error& error) {
    CHECK(error.status() == 400);
    CHECK(error.code() == "invalid_multipart");
    return error.what();
  }
}

}  // namespace

TEST_CASE("multipart: text fields and a file come back in order, bytes intact", "[multipart]") {
  const std::string binary("\x89PNG\r\n\x1a\n\0\r\n--XyZ-12 \xff", 19);
  const std::string body =
      text_part("prompt", "a cat\r\non two lines") +
      part(
          "Content-Disposition: form-data; name=\"init_image\"; filename=\"cat.png\"\r\n"
          "Content-Type: image/png\r\n",
          binary) +
      text_part("empty", "") + closing();
  const auto parts = parse_multipart_form(body, boundary);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].name == "prompt");
  CHECK(parts[0].body == "a cat\r\non two lines");
  CHECK_FALSE(parts[0].filename);
  CHECK(parts[0].content_type.empty());
  CHECK(parts[1].name == "init_image");
  REQUIRE(parts[1].filename);
  CHECK(*parts[1].filename == "cat.png");
  CHECK(parts[1].content_type == "image/png");
  CHECK(parts[1].body == binary);
  CHECK(parts[2].name == "empty");
  CHECK(parts[2].body.empty());
}

TEST_CASE("multipart: header forms that RFC 7578 clients send are read", "[multipart]") {
  // Header names in any case, a token name, an empty filename, quoted-pair escapes, extra
  // headers, no CRLF after the closing delimiter.
  const std::string body = part("content-disposition:form-data;name=n\r\nX-Extra: 1\r\n", "2") +
                           part(
                               "CONTENT-DISPOSITION: Form-Data; name=\"a\\\"b\"; filename=\"\"\r\n"
                               "Content-Transfer-Encoding: binary\r\n",
                               "x") +
                           "--" + boundary + "--";
  const auto parts = parse_multipart_form(body, boundary);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].name == "n");
  CHECK(parts[0].body == "2");
  CHECK(parts[1].name == "a\"b");
  REQUIRE(parts[1].filename);
  CHECK(parts[1].filename->empty());
}

TEST_CASE("multipart: the boundary comes from the Content-Type", "[multipart]") {
  CHECK(is_multipart_form("multipart/form-data; boundary=abc"));
  CHECK(is_multipart_form("Multipart/Form-Data;boundary=\"a b\""));
  CHECK(is_multipart_form("multipart/form-data; boundary=\"unclosed"));
  CHECK_FALSE(is_multipart_form("application/json"));
  CHECK_FALSE(is_multipart_form("multipart/mixed; boundary=abc"));
  CHECK_FALSE(is_multipart_form(""));

  CHECK(boundary_rejection("multipart/form-data; boundary=abc") == "accepted: abc");
  CHECK(boundary_rejection("multipart/form-data; charset=utf-8; BOUNDARY=\"a b:c\"") ==
        "accepted: a b:c");
  CHECK_THAT(boundary_rejection("multipart/form-data"), Contains("names no boundary"));
  CHECK_THAT(boundary_rejection("multipart/form-data; boundary=\"\""), Contains("1 to 70"));
  CHECK_THAT(boundary_rejection("multipart/form-data; boundary=" + std::string(71, 'a')),
             Contains("1 to 70"));
  CHECK_THAT(boundary_rejection("multipart/form-data; boundary=\"ab \""), Contains("1 to 70"));
  CHECK_THAT(boundary_rejection("multipart/form-data; boundary=\"a<b\""), Contains("1 to 70"));
  CHECK_THAT(boundary_rejection("multipart/form-data; boundary=\"abc"),
             Contains("malformed Content-Type"));
  CHECK_THAT(boundary_rejection("multipart/form-data; boundary=a; boundary=b"),
             Contains("malformed Content-Type"));
}

TEST_CASE("multipart: each malformation is a 400 saying what", "[multipart]") {
  const std::string good = text_part("prompt", "a cat");
  CHECK(rejection(good + closing()) == "accepted");
  CHECK_THAT(rejection(""), Contains("does not start with the boundary delimiter"));
  CHECK_THAT(rejection("preamble\r\n" + good + closing()),
             Contains("does not start with the boundary delimiter"));
  CHECK_THAT(rejection(closing()), Contains("no parts"));
  CHECK_THAT(rejection(good), Contains("part 1: no boundary delimiter after it"));
  CHECK_THAT(rejection(good + closing() + "epilogue"),
             Contains("data after the closing boundary delimiter"));
  CHECK_THAT(rejection("--" + boundary + " \r\n"),
             Contains("the first boundary delimiter is followed by neither CRLF nor \"--\""));
  CHECK_THAT(rejection(good + "--" + boundary + "X\r\n"),
             Contains("the boundary delimiter after part 1 is followed by neither"));
  // LF-only line ends.
  CHECK_THAT(rejection("--" + boundary + "\nContent-Disposition: form-data; name=a\n\nx\n--" +
                       boundary + "--\n"),
             Contains("followed by neither CRLF"));
  CHECK_THAT(rejection("--" + boundary + "\r\nContent-Disposition: form-data; name=a\r\n"),
             Contains("part 1: its headers do not end"));
  CHECK_THAT(rejection(part("", "x") + closing()), Contains("part 1: no Content-Disposition"));
  CHECK_THAT(rejection(part("Content-Type: text/plain\r\n", "x") + closing()),
             Contains("part 1: no Content-Disposition"));
  CHECK_THAT(rejection(good + part("Content-Disposition: attachment; name=a\r\n", "x") + closing()),
             Contains("part 2: Content-Disposition must be form-data"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data\r\n", "x") + closing()),
             Contains("part 1: Content-Disposition has no name"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=\"\"\r\n", "x") + closing()),
             Contains("has no name"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=\"a\r\n", "x") + closing()),
             Contains("malformed Content-Disposition"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=a; name=b\r\n", "x") + closing()),
             Contains("malformed Content-Disposition"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=a\r\n"
                            "Content-Disposition: form-data; name=b\r\n",
                            "x") +
                       closing()),
             Contains("two Content-Disposition headers"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=a\r\nContent-Type: a\r\n"
                            "Content-Type: b\r\n",
                            "x") +
                       closing()),
             Contains("two Content-Type headers"));
  CHECK_THAT(
      rejection(part("Content-Disposition: form-data; name=a\r\n folded\r\n", "x") + closing()),
      Contains("not \"Name: value\""));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=a\rb: c\r\n", "x") + closing()),
             Contains("bare CR or LF"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=a\r\n"
                            "Content-Transfer-Encoding: base64\r\n",
                            "eA==") +
                       closing()),
             Contains("Content-Transfer-Encoding"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=\"\xff\"\r\n", "x") + closing()),
             Contains("part 1: its name is not UTF-8"));
  CHECK_THAT(rejection(part("Content-Disposition: form-data; name=a; filename=\"\xc3\"\r\n", "x") +
                       closing()),
             Contains("its filename is not UTF-8"));
}

TEST_CASE("multipart: the part count and header size are bounded", "[multipart]") {
  multipart_limits limits;
  limits.max_parts = 3;
  limits.max_header_bytes = 100;
  std::string three;
  for (int i = 0; i < 3; ++i) three += text_part("f" + std::to_string(i), "v");
  CHECK(rejection(three + closing(), limits) == "accepted");
  CHECK_THAT(rejection(three + text_part("f3", "v") + closing(), limits),
             Contains("more than 3 parts"));
  CHECK_THAT(
      rejection(
          part("Content-Disposition: form-data; name=a\r\nX-Pad: " + std::string(100, 'p') + "\r\n",
               "x") +
              closing(),
          limits),
      Contains("part 1: headers over 100 bytes"));
}
