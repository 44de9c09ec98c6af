#include "http/access.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "frontend_server.hpp"

using muse::testing::frontend_server;
using muse::testing::http_request;
using nlohmann::json;

TEST_CASE("constant-time comparison is plain equality", "[access]") {
  CHECK(muse::http::constant_time_equal("abc", "abc"));
  CHECK_FALSE(muse::http::constant_time_equal("abc", "abd"));
  CHECK_FALSE(muse::http::constant_time_equal("abc", "abcd"));
  CHECK_FALSE(muse::http::constant_time_equal("", "a"));
  CHECK(muse::http::constant_time_equal("", ""));
}

TEST_CASE("API keys: Bearer or X-API-Key, 401 without; health, Slack and the page stay open",
          "[access]") {
  ::setenv("MUSE_FRONTENDS_TEST_KEYS", " key-one ,key-two,", 1);
  auto config = muse::testing::frontend_config();
  config.auth.api_keys_env = "MUSE_FRONTENDS_TEST_KEYS";
  frontend_server s(config);

  auto missing = http_request("GET", s.url("/api/v1/stats"));
  CHECK(missing.status == 401);
  CHECK(json::parse(missing.body)["error"]["code"] == "unauthorized");
  CHECK(missing.headers["www-authenticate"] == "Bearer");
  CHECK(http_request("GET", s.url("/api/v1/stats"), "", {"Authorization: Bearer key-two"}).status ==
        200);
  CHECK(http_request("GET", s.url("/api/v1/stats"), "", {"X-API-Key: key-one"}).status == 200);
  CHECK(http_request("GET", s.url("/api/v1/stats"), "", {"X-API-Key: key-thr"}).status == 401);
  CHECK(http_request("GET", s.url("/api/v1/stats"), "", {"Authorization: Bearer key"}).status ==
        401);
  CHECK(http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "a"})").status == 401);
  CHECK(http_request("POST", s.url("/v1/images/generations"), R"({"prompt": "a"})").status == 401);
  CHECK(s.gateway.held_count() == 0);

  CHECK(http_request("GET", s.url("/healthz")).status == 200);
  CHECK(http_request("GET", s.url("/readyz")).status != 401);
  CHECK(http_request("GET", s.url("/")).status == 200);
  CHECK(http_request("GET", s.url("/openapi.json")).status == 200);
  CHECK(http_request("GET", s.url("/api-docs")).status == 200);
  // The Slack route answers by its own rule (no signing secret is configured here), not the keys'.
  auto slack = http_request("POST", s.url("/slack/commands"), "text=a");
  CHECK(slack.status == 503);
  ::unsetenv("MUSE_FRONTENDS_TEST_KEYS");
}

TEST_CASE("a server told to use API keys does not start without any", "[access]") {
  ::unsetenv("MUSE_FRONTENDS_TEST_NO_KEYS");
  auto config = muse::testing::frontend_config();
  config.auth.api_keys_env = "MUSE_FRONTENDS_TEST_NO_KEYS";
  muse::testing::fake_gateway gateway;
  CHECK_THROWS_WITH(muse::http::server(config, gateway),
                    Catch::Contains("MUSE_FRONTENDS_TEST_NO_KEYS"));
}

TEST_CASE("CORS is off unless origins are configured, and only listed origins are named",
          "[access][cors]") {
  {
    frontend_server s;
    auto plain = http_request("GET", s.url("/healthz"), "", {"Origin: https://evil.example"});
    CHECK(plain.headers.count("access-control-allow-origin") == 0);
    auto preflight =
        http_request("OPTIONS", s.url("/api/v1/jobs"), "",
                     {"Origin: https://evil.example", "Access-Control-Request-Method: POST"});
    CHECK(preflight.headers.count("access-control-allow-origin") == 0);
    CHECK(preflight.headers.count("access-control-allow-methods") == 0);
  }
  auto config = muse::testing::frontend_config();
  config.auth.cors_origins = {"https://app.example"};
  frontend_server s(config);
  auto allowed = http_request("GET", s.url("/healthz"), "", {"Origin: https://app.example"});
  CHECK(allowed.headers["access-control-allow-origin"] == "https://app.example");
  CHECK(allowed.headers["vary"] == "Origin");
  auto other = http_request("GET", s.url("/healthz"), "", {"Origin: https://evil.example"});
  CHECK(other.headers.count("access-control-allow-origin") == 0);
  auto preflight =
      http_request("OPTIONS", s.url("/api/v1/jobs"), "",
                   {"Origin: https://app.example", "Access-Control-Request-Method: POST"});
  CHECK(preflight.status == 204);
  CHECK(preflight.headers["access-control-allow-origin"] == "https://app.example");
  CHECK(preflight.headers["access-control-allow-headers"].find("X-API-Key") != std::string::npos);
  auto refused =
      http_request("OPTIONS", s.url("/api/v1/jobs"), "",
                   {"Origin: https://evil.example", "Access-Control-Request-Method: POST"});
  CHECK(refused.headers.count("access-control-allow-methods") == 0);
}

TEST_CASE("the web page is served from the binary", "[web]") {
  frontend_server s;
  auto page = http_request("GET", s.url("/"));
  CHECK(page.status == 200);
  CHECK(page.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(page.body.find("<form id=\"form\"") != std::string::npos);
  CHECK(page.body == http_request("GET", s.url("/index.html")).body);
  auto script = http_request("GET", s.url("/app.js"));
  CHECK(script.headers["content-type"] == "text/javascript; charset=utf-8");
  CHECK(script.body.find("/api/v1/jobs") != std::string::npos);
  CHECK(http_request("GET", s.url("/style.css")).headers["content-type"] ==
        "text/css; charset=utf-8");
  auto icon = http_request("GET", s.url("/favicon.svg"));
  CHECK(icon.status == 200);
  CHECK(icon.headers["content-type"] == "image/svg+xml");
  CHECK(icon.body.rfind("<svg", 0) == 0);
  CHECK(page.body.find("href=\"/api-docs\"") != std::string::npos);
}

TEST_CASE("the API's description and its page are served from the binary", "[web]") {
  frontend_server s;
  auto openapi = http_request("GET", s.url("/openapi.json"));
  CHECK(openapi.status == 200);
  CHECK(openapi.headers["content-type"] == "application/json");
  const json description = json::parse(openapi.body, nullptr, false);
  REQUIRE(description.is_object());
  CHECK(description.at("paths").contains("/api/v1/generate"));
  auto docs = http_request("GET", s.url("/api-docs"));
  CHECK(docs.status == 200);
  CHECK(docs.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(docs.body == http_request("GET", s.url("/api-docs.html")).body);
  CHECK(docs.body.find("<script src=\"/api-docs.js\">") != std::string::npos);
  auto script = http_request("GET", s.url("/api-docs.js"));
  CHECK(script.headers["content-type"] == "text/javascript; charset=utf-8");
  CHECK(script.body.find("fetch('/openapi.json')") != std::string::npos);
}
