#include <catch2/catch.hpp>
#include <future>
#include <nlohmann/json.hpp>

#include "frontend_server.hpp"
#include "http/base64.hpp"

using muse::testing::fake_gateway;
using muse::testing::frontend_server;
using muse::testing::http_request;
using nlohmann::json;

namespace {

// Posts `body` and, once the order is submitted, completes it; returns the response.
muse::testing::http_response generate(frontend_server& s, const std::string& body,
                                      std::optional<muse::actors::failure> error = std::nullopt) {
  auto answer = std::async(std::launch::async, [&] {
    return http_request("POST", s.url("/v1/images/generations"), body);
  });
  std::string id = s.gateway.wait_submitted(1);
  REQUIRE_FALSE(id.empty());
  s.gateway.complete(id, error);
  return answer.get();
}

}  // namespace

TEST_CASE("OpenAI images: b64_json with n, size and quality translated", "[openai]") {
  frontend_server s;
  auto answer = std::async(std::launch::async, [&] {
    return http_request("POST", s.url("/v1/images/generations"),
                        R"({"model": "muse-tiny", "prompt": "a fox", "n": 2, "size": "96x64",
                            "quality": "hd", "response_format": "b64_json"})");
  });
  std::string id = s.gateway.wait_submitted(1);
  REQUIRE_FALSE(id.empty());
  auto order = s.gateway.order(id);
  REQUIRE(order.samples.size() == 2);
  CHECK(order.model == "muse-tiny");  // `model` names a served model
  CHECK(order.samples[0].width == 96);
  CHECK(order.samples[0].height == 64);
  CHECK(order.samples[0].steps == 50);  // hd -> the quality steps
  CHECK(order.samples[0].prompt == "a fox");
  const uint64_t seed = order.samples[1].seed;
  s.gateway.complete(id);
  auto response = answer.get();
  REQUIRE(response.status == 200);
  json body = json::parse(response.body);
  CHECK(body["created"].is_number_integer());
  REQUIRE(body["data"].size() == 2);
  CHECK(body["data"][1]["b64_json"] == muse::http::base64_encode(fake_gateway::fake_png(seed)));
}

TEST_CASE("OpenAI images: standard quality is the fast steps; url answers an expiring URL",
          "[openai]") {
  frontend_server s;
  auto answer = std::async(std::launch::async, [&] {
    return http_request("POST", s.url("/v1/images/generations"),
                        R"({"prompt": "a fox", "quality": "standard", "response_format": "url"})");
  });
  std::string id = s.gateway.wait_submitted(1);
  auto order = s.gateway.order(id);
  CHECK(order.samples.at(0).steps == 25);
  CHECK(order.samples.at(0).width == 64);
  s.gateway.complete(id);
  json body = json::parse(answer.get().body);
  const std::string url = body["data"][0]["url"];
  const std::string prefix = "http://muse.example.org/api/v1/images/";
  REQUIRE(url.rfind(prefix, 0) == 0);
  auto image = http_request("GET", s.url("/api/v1/images/" + url.substr(prefix.size())));
  CHECK(image.status == 200);
  CHECK(image.headers["content-type"] == "image/png");
  CHECK(image.body == fake_gateway::fake_png(order.samples[0].seed));
  CHECK(http_request("GET", s.url("/api/v1/images/0123456789abcdef")).status == 404);
}

TEST_CASE("OpenAI images: errors come in OpenAI's shape", "[openai]") {
  frontend_server s;
  auto check_error = [&](const std::string& body, long status, const std::string& param) {
    auto response = http_request("POST", s.url("/v1/images/generations"), body);
    CHECK(response.status == status);
    json error = json::parse(response.body)["error"];
    CHECK(error["message"].is_string());
    CHECK(error["type"] == "invalid_request_error");
    CHECK(error.contains("code"));
    if (param.empty())
      CHECK(error["param"].is_null());
    else
      CHECK(error["param"] == param);
  };
  check_error(R"({"prompt": "a", "size": "big"})", 400, "size");
  check_error(R"({"prompt": "a", "size": "1024x1024"})", 400, "size");  // over the model's max
  check_error(R"({"prompt": "a", "quality": "ultra"})", 400, "quality");
  check_error(R"({"prompt": "a", "response_format": "png"})", 400, "response_format");
  check_error(R"({"prompt": "a", "n": 99})", 400, "n");
  check_error(R"({"n": 1})", 400, "prompt");
  check_error(R"({"prompt": "a", "colour": "red"})", 400, "colour");
  check_error("not json", 400, "");
  CHECK(s.gateway.held_count() == 0);

  auto busy = generate(s, R"({"prompt": "a"})", muse::actors::failure::queue_full);
  CHECK(busy.status == 429);
  CHECK(busy.headers["retry-after"] == "1");
  json error = json::parse(busy.body)["error"];
  CHECK(error["type"] == "rate_limit_error");
  CHECK(error["code"] == "queue_full");
}

TEST_CASE("OpenAI images answer URLs unless b64_json is asked for, as DALL-E does", "[openai]") {
  frontend_server s;
  auto response = generate(s, R"({"prompt": "a fox"})");
  REQUIRE(response.status == 200);
  json body = json::parse(response.body);
  REQUIRE(body["data"].size() == 1);
  CHECK(body["data"][0].contains("url"));
  CHECK_FALSE(body["data"][0].contains("b64_json"));
}

TEST_CASE("an unknown OpenAI field is named with the one it most plausibly meant", "[openai]") {
  frontend_server s;
  auto response = http_request("POST", s.url("/v1/images/generations"),
                               R"({"prompt": "a", "response_fromat": "url"})");
  CHECK(response.status == 400);
  json error = json::parse(response.body)["error"];
  CHECK(error["param"] == "response_fromat");
  CHECK(error["message"] == "unknown field 'response_fromat'; did you mean 'response_format'?");
}
