#include "http/slack_form.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "http/api_error.hpp"

using muse::http::api_error;
using muse::http::parse_slack_form;

namespace {

// "code:field" of the error a form gets, or "accepted".
std::string rejection(const std::string& body) {
  try {
    parse_slack_form(body);
    return "accepted";
  } catch (const api_error& error) {
    REQUIRE(error.status() == 400);
    return error.code() + ":" + error.field();
  }
}

}  // namespace

TEST_CASE("a Slack form decodes + and %XX; a later field of one name wins", "[slack]") {
  auto form = parse_slack_form(
      "command=%2Fmuse&text=a+lighthouse+at%20dusk&empty=&no_equals&text2=%e2%82%ac&text2=last");
  CHECK(form.at("command") == "/muse");
  CHECK(form.at("text") == "a lighthouse at dusk");
  CHECK(form.at("empty").empty());
  CHECK(form.count("no_equals") == 0);
  CHECK(form.at("text2") == "last");
  CHECK(parse_slack_form("").empty());
  // A "%" not followed by two hex digits is kept as it is.
  CHECK(parse_slack_form("a=%zz%4&b=100%").at("a") == "%zz%4");
  CHECK(parse_slack_form("a=%zz%4&b=100%").at("b") == "100%");
}

TEST_CASE("a Slack form whose text is not UTF-8 is a 400 naming the field", "[slack]") {
  for (const char* bad : {"%FF", "%C0%AF", "%ED%A0%80", "%E2%82"}) {
    INFO(bad);
    CHECK(rejection(std::string("command=%2Fmuse&text=") + bad) == "invalid_request:text");
  }
  CHECK(rejection("%FF=x") == "invalid_request:");
  CHECK(rejection("text=%E2%82%AC") == "accepted");
}
