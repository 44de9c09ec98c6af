#include "http/server.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/base64.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/prometheus_check.hpp"
#include "tests/support/server_on_fake_gateway.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using nlohmann::json;

namespace {

muse::config::deployment_config test_config() {
  muse::config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.http_threads = 2;
  config.gateway.max_body_bytes = 2048;
  config.gateway.max_prompt_chars = 100;
  config.gateway.request_timeout_s = 30;
  config.models[0].width = 64;
  config.models[0].height = 64;
  config.models[0].fast_steps = 25;
  config.models[0].quality_steps = 50;
  config.models[0].max_images_per_request = 4;
  config.models[0].scheduler = "ddim";
  return config;
}

struct running_server : muse::testing::server_on_fake_gateway {
  running_server() : server_on_fake_gateway(test_config()) {}
};

json error_of(const http_response& response) {
  json body = json::parse(response.body);
  REQUIRE(body.contains("error"));
  REQUIRE(body["error"]["code"].is_string());
  REQUIRE(body["error"]["message"].is_string());
  return body["error"];
}

}  // namespace

TEST_CASE("the server listens on an ephemeral port and answers health checks", "[server]") {
  running_server s;
  REQUIRE(s.server.port() != 0);
  auto health = s.get("/healthz");
  CHECK(health.status == 200);
  CHECK(json::parse(health.body) == json{{"status", "ok"}});
  CHECK(health.headers["content-type"] == "application/json");

  CHECK(s.get("/readyz").status == 200);
  s.gateway.ready_ = false;
  auto not_ready = s.get("/readyz");
  CHECK(not_ready.status == 503);
  CHECK(error_of(not_ready)["code"] == "not_ready");
}

TEST_CASE("generate returns base64 PNGs with consecutive seeds and timings", "[server]") {
  running_server s;
  auto response = s.post("/api/v1/generate",
                         R"({"prompt": "a cat", "seed": 41, "n": 2, "quality": "quality"})");
  REQUIRE(response.status == 200);
  json body = json::parse(response.body);
  CHECK(body["id"].get<std::string>().size() == 24);
  CHECK(response.headers["x-request-id"] == body["id"]);
  CHECK(body["steps"] == 50);
  REQUIRE(body["images"].size() == 2);
  CHECK(body["images"][0]["seed"] == 41);
  CHECK(body["images"][1]["seed"] == 42);
  CHECK(body["images"][1]["png_base64"] ==
        muse::http::base64_encode(muse::testing::fake_gateway::fake_png(42)));
  CHECK(body["timings"]["queue_ms"] == 1.5);
  CHECK(body["timings"]["inference_ms"] == 10);
  CHECK(body["timings"]["total_ms"] == 11.5);

  auto orders = s.gateway.submitted();
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].id == body["id"]);
  REQUIRE(orders[0].samples.size() == 2);
  CHECK(orders[0].samples[0].steps == 50);
  CHECK(orders[0].samples[0].width == 64);
  auto left = orders[0].deadline - std::chrono::steady_clock::now();
  CHECK(left > std::chrono::seconds(20));
  CHECK(left <= std::chrono::seconds(30));
}

TEST_CASE("a request without a seed gets a random one, returned", "[server]") {
  running_server s;
  auto first = json::parse(s.post("/api/v1/generate", R"({"prompt": "a cat"})").body);
  auto second = json::parse(s.post("/api/v1/generate", R"({"prompt": "a cat"})").body);
  CHECK(first["images"][0]["seed"].is_number_unsigned());
  CHECK(first["images"][0]["seed"] != second["images"][0]["seed"]);
  CHECK(first["id"] != second["id"]);
}

TEST_CASE("the seed's predict route answers a data URL", "[server]") {
  running_server s;
  auto response = s.post("/api/predict", R"({"prompt": "a cat", "high_quality": true})");
  REQUIRE(response.status == 200);
  json body = json::parse(response.body);
  std::string image = body["image"];
  CHECK(image.rfind("data:image/png;base64,", 0) == 0);
  CHECK(s.gateway.submitted().at(0).samples.at(0).steps == 50);
  // The seed it drew, so that the image can be made again.
  CHECK(body["seed"] == s.gateway.submitted().at(0).samples.at(0).seed);
}

TEST_CASE("bad requests get JSON errors naming the field", "[server]") {
  running_server s;
  auto bad_json = s.post("/api/v1/generate", "{\"prompt\": ");
  CHECK(bad_json.status == 400);
  CHECK(error_of(bad_json)["code"] == "invalid_json");

  auto unknown = s.post("/api/v1/generate", R"({"prompt": "x", "style": "oil"})");
  CHECK(unknown.status == 400);
  CHECK(error_of(unknown)["field"] == "style");
  CHECK(error_of(unknown)["message"] == "unknown field 'style'");

  auto misspelt = s.post("/api/v1/generate", R"({"prompt": "x", "negative": "blur"})");
  CHECK(misspelt.status == 400);
  CHECK(error_of(misspelt)["field"] == "negative");
  CHECK(error_of(misspelt)["message"] ==
        "unknown field 'negative'; did you mean 'negative_prompt'?");
  CHECK(error_of(s.post("/api/v1/generate", R"({"prompt": "x", "sead": 4})"))["message"] ==
        "unknown field 'sead'; did you mean 'seed'?");

  auto steps = s.post("/api/v1/generate", R"({"prompt": "x", "steps": 1000})");
  CHECK(steps.status == 400);
  CHECK(error_of(steps)["field"] == "steps");

  auto long_prompt = s.post("/api/v1/generate", json{{"prompt", std::string(101, 'a')}}.dump());
  CHECK(long_prompt.status == 400);
  CHECK(error_of(long_prompt)["field"] == "prompt");

  auto too_big = s.post("/api/v1/generate", json{{"prompt", std::string(3000, 'a')}}.dump());
  CHECK(too_big.status == 413);
  CHECK(error_of(too_big)["code"] == "payload_too_large");

  auto missing = s.get("/no/such/route");
  CHECK(missing.status == 404);
  CHECK(error_of(missing)["code"] == "not_found");

  auto wrong_method = s.get("/api/v1/generate");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.headers["allow"] == "POST");
  CHECK(error_of(wrong_method)["code"] == "method_not_allowed");

  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("gateway failures map to their status codes", "[server]") {
  running_server s;
  struct expectation {
    const char* prompt;
    long status;
    const char* code;
  };
  for (auto e : {expectation{"fail:queue_full", 429, "queue_full"},
                 expectation{"fail:no_worker", 503, "no_worker"},
                 expectation{"fail:shutting_down", 503, "shutting_down"},
                 expectation{"fail:timeout", 504, "timeout"},
                 expectation{"fail:invalid_request", 400, "invalid_request"},
                 expectation{"fail:internal", 500, "internal"}}) {
    INFO(e.prompt);
    auto response = s.post("/api/v1/generate", json{{"prompt", e.prompt}}.dump());
    CHECK(response.status == e.status);
    CHECK(error_of(response)["code"] == e.code);
    if (e.status == 429) CHECK(response.headers["retry-after"] == "1");
  }
}

TEST_CASE("no order is submitted before a worker is ready", "[server]") {
  running_server s;
  s.gateway.ready_ = false;
  auto response = s.post("/api/v1/generate", R"({"prompt": "x"})");
  CHECK(response.status == 503);
  CHECK(error_of(response)["code"] == "no_worker");
  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("stats and metrics carry the gateway's figures and the HTTP counters", "[server]") {
  running_server s;
  s.get("/healthz");
  s.get("/nowhere");
  auto stats = s.get("/api/v1/stats");
  REQUIRE(stats.status == 200);
  json body = json::parse(stats.body);
  CHECK(body["orders"]["accepted"] == 7);  // the gateway's figures, as JSON
  CHECK(body["queue"]["max"] == 10);
  CHECK(body["http"]["requests"]["/healthz"]["200"] == 1);
  CHECK(body["http"]["requests"]["unmatched"]["404"] == 1);

  auto metrics = s.get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0);
  auto parsed = muse::testing::parse_prometheus(metrics.body);
  CHECK(parsed.problems.empty());
  CHECK(parsed.samples.at(R"(muse_http_requests_total{route="/healthz",status="200"})") == 1);
  CHECK(parsed.samples.at(R"(muse_http_requests_total{route="/api/v1/stats",status="200"})") == 1);
  CHECK(parsed.samples.at("muse_queue_depth") == 0);
  CHECK(parsed.samples.at("muse_queue_max") == 10);
  CHECK(parsed.samples.at("muse_orders_accepted_total") == 7);
}

TEST_CASE("stats name the size a request that names none gets", "[server]") {
  auto config = test_config();
  config.models[0].width = 96;
  config.models[0].height = 48;
  muse::testing::server_on_fake_gateway s(config);
  auto stats = s.get("/api/v1/stats");
  REQUIRE(stats.status == 200);
  json body = json::parse(stats.body);
  CHECK(body["model"]["name"] == "fake");
  CHECK(body["model"]["limits"]["max_size"] == 128);  // the served model's, beside the config's
  CHECK(body["model"]["default_size"] == json{{"width", 96}, {"height", 48}});
}

TEST_CASE("stats without a snapshot answer readiness and why", "[server]") {
  running_server s;
  s.gateway.no_snapshot_ = true;
  s.gateway.ready_ = false;
  auto stats = s.get("/api/v1/stats");
  REQUIRE(stats.status == 200);
  json body = json::parse(stats.body);
  CHECK(body["ready"] == false);
  CHECK(body["error"] == "fake: no snapshot");
  CHECK(!body.contains("model"));
  CHECK(body["http"].is_object());
  auto metrics = s.get("/metrics");
  REQUIRE(metrics.status == 200);
  auto parsed = muse::testing::parse_prometheus(metrics.body);
  CHECK(parsed.problems.empty());
  CHECK(parsed.samples.at("muse_ready") == 0);
  CHECK(parsed.samples.count("muse_queue_depth") == 0);
}

TEST_CASE("a client that hangs up cancels its order", "[server]") {
  running_server s;
  {
    muse::testing::raw_connection client(s.server.port());
    std::string body = R"({"prompt": "hold"})";
    client.send(
        "POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    REQUIRE(s.gateway.wait_held(1, std::chrono::seconds(5)));
  }
  auto orders = s.gateway.submitted();
  REQUIRE(orders.size() == 1);
  CHECK(s.gateway.wait_cancelled(orders[0].id, std::chrono::seconds(5)));
}

TEST_CASE("malformed HTTP does not disturb the server", "[server]") {
  running_server s;
  for (const char* garbage :
       {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "\x01\x02\x03\x04\r\n\r\n",
        "POST /api/v1/generate HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n"}) {
    // Some of these leave the server waiting for more bytes: a short read is enough.
    muse::testing::raw_connection client(s.server.port(), 1);
    client.send(garbage);
    client.read_all();
  }
  {
    muse::testing::raw_connection client(s.server.port());
    client.send("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    client.read_all();
  }
  CHECK(s.get("/healthz").status == 200);
}

TEST_CASE("many concurrent requests are each answered once", "[server]") {
  running_server s;
  std::vector<std::future<http_response>> responses;
  for (int i = 0; i < 24; ++i)
    responses.push_back(std::async(std::launch::async, [&s, i] {
      return s.post("/api/v1/generate", json{{"prompt", "p"}, {"seed", i}}.dump());
    }));
  for (int i = 0; i < 24; ++i) {
    auto response = responses[size_t(i)].get();
    REQUIRE(response.status == 200);
    CHECK(json::parse(response.body)["images"][0]["seed"] == i);
  }
}

TEST_CASE("draining answers new requests 503 and lets held ones finish", "[server]") {
  running_server s;
  auto held = std::async(std::launch::async,
                         [&s] { return s.post("/api/v1/generate", R"({"prompt": "hold"})"); });
  REQUIRE(s.gateway.wait_held(1, std::chrono::seconds(5)));
  s.server.drain();
  auto late = s.post("/api/v1/generate", R"({"prompt": "x"})");
  CHECK(late.status == 503);
  CHECK(error_of(late)["code"] == "shutting_down");
  CHECK(s.get("/readyz").status == 503);
  CHECK(s.get("/healthz").status == 200);
  s.gateway.release_held();
  auto answered = held.get();
  CHECK(answered.status == 200);
}

TEST_CASE("a job's deadline is job_timeout_s, a request's request_timeout_s", "[server]") {
  auto config = test_config();
  config.gateway.job_timeout_s = 7200;
  muse::testing::server_on_fake_gateway s(config);
  REQUIRE(s.post("/api/v1/jobs", R"({"prompt": "a long one", "steps": 100})").status == 202);
  REQUIRE(s.post("/api/v1/generate", R"({"prompt": "a short one"})").status == 200);
  const auto orders = s.gateway.submitted();
  REQUIRE(orders.size() == 2);
  const auto now = std::chrono::steady_clock::now();
  CHECK(orders[0].deadline - now > std::chrono::seconds(7100));
  CHECK(orders[0].deadline - now <= std::chrono::seconds(7200));
  CHECK(orders[1].deadline - now <= std::chrono::seconds(30));
}

TEST_CASE("a client over its rate gets 429 with Retry-After; probes are not counted",
          "[server][rate_limit]") {
  auto config = test_config();
  config.gateway.rate_limit_per_s = 0.01;  // one token per 100 s: none comes back in the test
  config.gateway.rate_limit_burst = 2;
  muse::testing::server_on_fake_gateway s(config);
  for (int i = 0; i < 5; ++i) CHECK(s.get("/healthz").status == 200);
  CHECK(s.get("/api/v1/stats").status == 200);
  CHECK(s.post("/api/v1/generate", R"({"prompt": "a cat"})").status == 200);
  auto refused = s.get("/api/v1/stats");
  CHECK(refused.status == 429);
  CHECK(error_of(refused)["code"] == "rate_limited");
  const int retry_after = std::stoi(refused.headers["retry-after"]);
  CHECK(retry_after > 90);
  CHECK(retry_after <= 100);
  CHECK(s.post("/api/v1/generate", R"({"prompt": "a cat"})").status == 429);
  CHECK(s.gateway.submitted().size() == 1);
  CHECK(s.get("/readyz").status == 200);
}

TEST_CASE("with API keys, each key has its own rate; refusals are in the metrics",
          "[server][rate_limit]") {
  ::setenv("MUSE_RATE_LIMIT_TEST_KEYS", "key-one,key-two", 1);
  auto config = test_config();
  config.auth.api_keys_env = "MUSE_RATE_LIMIT_TEST_KEYS";
  config.gateway.rate_limit_per_s = 0.01;
  config.gateway.rate_limit_burst = 1;
  muse::testing::server_on_fake_gateway s(config);
  auto get = [&](const std::string& path, const std::string& key) {
    return http_request("GET", s.url(path), "", {"X-API-Key: " + key});
  };
  CHECK(get("/api/v1/stats", "key-one").status == 200);
  CHECK(get("/api/v1/stats", "key-one").status == 429);
  CHECK(http_request("GET", s.url("/api/v1/stats"), "", {"Authorization: Bearer key-one"}).status ==
        429);                                          // the same key, however it is presented
  CHECK(get("/api/v1/stats", "wrong").status == 401);  // refused before it is counted
  auto metrics = get("/metrics", "key-two");
  REQUIRE(metrics.status == 200);
  auto parsed = muse::testing::parse_prometheus(metrics.body);
  CHECK(parsed.samples.at("muse_http_rate_limited_total") == 2);
  CHECK(parsed.samples.at(R"(muse_http_requests_total{route="/api/v1/stats",status="429"})") == 2);
}
