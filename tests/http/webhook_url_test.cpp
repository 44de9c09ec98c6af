#include "http/webhook_url.hpp"

#include <catch2/catch.hpp>

#include "http/api_error.hpp"
#include "http/slack_signature.hpp"
#include "http/webhook_delivery.hpp"

using muse::http::api_error;
using muse::http::checked_webhook_url;

namespace {

const std::vector<std::string> allowed = {"hooks.example.org", "127.0.0.1", "[::1]"};

// The 400's message for `url`; "" when it is accepted.
std::string refusal(const std::string& url, const std::vector<std::string>& hosts = allowed) {
  try {
    checked_webhook_url(url, hosts);
  } catch (const api_error& error) {
    CHECK(error.status() == 400);
    CHECK(error.code() == "invalid_request");
    CHECK(error.field() == "webhook");
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a webhook is an http(s) URL on an allowed host, as libcurl will call it", "[webhook]") {
  CHECK(checked_webhook_url("https://hooks.example.org/muse?job=1", allowed) ==
        "https://hooks.example.org/muse?job=1");
  CHECK(checked_webhook_url("HTTP://Hooks.Example.ORG:8443/in", allowed) ==
        "http://Hooks.Example.ORG:8443/in");
  CHECK(checked_webhook_url("http://127.0.0.1:9/hook", allowed) == "http://127.0.0.1:9/hook");
  CHECK(checked_webhook_url("http://[::1]:8080/", allowed) == "http://[::1]:8080/");
  CHECK(checked_webhook_url("http://[::1]/", {"::1"}) == "http://[::1]/");
}

TEST_CASE("a webhook anywhere else is refused, naming why", "[webhook]") {
  CHECK_THAT(refusal("https://hooks.example.org/x", {}),
             Catch::Contains("this server allows no webhook hosts"));
  CHECK_THAT(refusal("ftp://hooks.example.org/x"),
             Catch::Contains("must be an http:// or https:// URL"));
  CHECK_THAT(refusal("hooks.example.org/x"), Catch::Contains("must be an http:// or https:// URL"));
  CHECK_THAT(refusal("http:///hooks.example.org/x"), Catch::Contains("must name a host"));
  CHECK_THAT(refusal("http://"), Catch::Contains("must name a host"));
  CHECK_THAT(refusal("https://user:pass@hooks.example.org/x"),
             Catch::Contains("must not hold a user name or password"));
  CHECK_THAT(refusal("https://hooks.example.org@evil.example/x"),
             Catch::Contains("must not hold a user name or password"));
  CHECK_THAT(refusal("https://evil.example/x"),
             Catch::Contains("host \"evil.example\" is not one this server posts to"));
  // A name that merely starts or ends like an allowed one is another host.
  CHECK_THAT(refusal("https://hooks.example.org.evil.example/"),
             Catch::Contains("is not one this server posts to"));
  CHECK_THAT(refusal("http://127.0.0.2/"), Catch::Contains("is not one this server posts to"));
  CHECK_THAT(refusal("https://hooks.example.org:99999/"), Catch::Contains("is not a valid URL"));
  CHECK_THAT(refusal("https://hooks example.org/"), Catch::Contains("is not a valid URL"));
  CHECK_THAT(refusal("https://hooks.example.org/" + std::string(3000, 'a')),
             Catch::Contains("at most 2048 characters"));
}

TEST_CASE("deliveries are signed as Slack signs: v0= hex HMAC-SHA256 of v0:timestamp:body",
          "[webhook]") {
  // RFC 4231, test case 2.
  CHECK(muse::http::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Python: hmac.new(b"hush", b'v0:1700000000:{"id":"a"}', hashlib.sha256).hexdigest()
  CHECK(muse::http::webhook_signature("hush", "1700000000", R"({"id":"a"})") ==
        "v0=3ce1d51de217fbee5260ff6dc7dfc3ad0c8e7784e9bd2f7078c3a589aae7a878");
}
