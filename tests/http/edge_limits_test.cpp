// What no client can do to the server: crash it with deep JSON, get a 500 with text that is not
// UTF-8, lose the answer to an oversized body, or hold every connection with slow requests.

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/server_on_fake_gateway.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::raw_connection;
using nlohmann::json;

namespace {

muse::config::deployment_config edge_config() {
  muse::config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.http_threads = 2;
  config.gateway.max_body_bytes = 2048;
  config.gateway.max_prompt_chars = 100;
  config.gateway.request_timeout_s = 30;
  config.models[0].width = 64;
  config.models[0].height = 64;
  config.models[0].max_images_per_request = 4;
  config.models[0].scheduler = "ddim";
  return config;
}

struct edge_server : muse::testing::server_on_fake_gateway {
  explicit edge_server(const muse::config::deployment_config& config = edge_config())
      : server_on_fake_gateway(config) {}
};

// Every route whose body is JSON.
const char* const json_routes[] = {"/api/v1/generate", "/api/predict", "/api/v1/jobs",
                                   "/v1/images/generations"};

// The error object of an answer, in either shape (native, or OpenAI's with `param`).
json error_of(const http_response& response) {
  json body = json::parse(response.body);
  REQUIRE(body.contains("error"));
  json error = body["error"];
  if (error.contains("param") && !error["param"].is_null()) error["field"] = error["param"];
  return error;
}

// "HTTP/1.1 413 ..." -> 413.
int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

std::string post_head(const std::string& path, size_t content_length,
                      const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

}  // namespace

TEST_CASE("deeply nested JSON is refused on every route and the server lives on", "[edge]") {
  auto config = edge_config();
  config.gateway.max_body_bytes = 1 << 20;
  edge_server s(config);
  const std::string deep =
      R"({"prompt":"x","n":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  for (const char* route : json_routes) {
    INFO(route);
    auto response = s.post(route, deep);
    CHECK(response.status == 400);
    json error = error_of(response);
    CHECK(error["code"] == "invalid_request");
    CHECK(error["field"] == "n");
    CHECK_THAT(error["message"].get<std::string>(), Catch::Contains("64 levels"));
  }
  CHECK(s.get("/healthz").status == 200);
  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("text that is not UTF-8 is a 400 naming the field, never a 500", "[edge]") {
  edge_server s;
  for (std::string bad : {"\xFF", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82"}) {
    for (const char* route : json_routes) {
      INFO(route << " " << json(bad).dump(-1, ' ', true, json::error_handler_t::replace));
      auto response = s.post(route, std::string(R"({"prompt": "a)") + bad + "\"}");
      CHECK(response.status == 400);
      CHECK(error_of(response)["field"] == "prompt");
    }
  }
  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("a body over max_body_bytes is answered 413 before the connection closes", "[edge]") {
  edge_server s;
  for (size_t size : {size_t(70) << 10, size_t(1) << 20, size_t(8) << 20}) {
    INFO(size);
    raw_connection client(s.server.port(), 10);
    client.send(post_head("/api/v1/generate", size) + std::string(size, ' '));
    std::string answer = client.read_all();
    CHECK(status_of(answer) == 413);
    CHECK_THAT(answer, Catch::Contains("payload_too_large"));
    CHECK_THAT(answer, Catch::Contains("Connection: close"));
    CHECK(client.peer_closed());
  }
  // Every route, not only those that generate.
  auto slack = s.post("/slack/commands", std::string(4096, 'x'));
  CHECK(slack.status == 413);
  // A body no server should read is cut off; the server serves on.
  {
    raw_connection client(s.server.port(), 10);
    client.send(post_head("/api/v1/generate", size_t(1) << 30) + "{");
    client.read_all();
    CHECK(client.peer_closed());
  }
  CHECK(s.get("/healthz").status == 200);
}

TEST_CASE("an expectation other than 100-continue is 417", "[edge]") {
  edge_server s;
  {
    raw_connection client(s.server.port());
    client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: fancy\r\n\r\n");
    std::string answer = client.read_all();
    CHECK(status_of(answer) == 417);
    CHECK_THAT(answer, Catch::Contains("expectation_failed"));
    CHECK(client.peer_closed());
  }
  {
    raw_connection client(s.server.port());
    client.send("GET /healthz HTTP/1.0\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n");
    CHECK(status_of(client.read_all()) == 200);
  }
}

TEST_CASE("slow clients cannot hold the server's connections", "[edge]") {
  auto config = edge_config();
  config.gateway.max_connections = 4;
  config.gateway.max_connections_per_client = 2;
  config.gateway.read_timeout_s = 3;
  edge_server s(config);
  const uint16_t port = s.server.port();
  // The status a client from `source` gets for GET /healthz; 0 when closed unanswered.
  auto answer_to = [&](const char* source) {
    raw_connection client(port, 5, source);
    try {
      client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    } catch (const std::runtime_error&) {
      return 0;  // closed before the request was out
    }
    return status_of(client.read_all());
  };
  // The server accepts asynchronously (and closes a finished connection just after its client
  // sees the answer): wait until it counts `expected` open connections.
  auto counts = [&](size_t expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (s.server.open_connections() != expected && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return s.server.open_connections() == expected;
  };
  // Connections that start a head and never finish it.
  std::vector<std::unique_ptr<raw_connection>> slow;
  auto open_slow = [&](const char* source) {
    slow.push_back(std::make_unique<raw_connection>(port, 5, source));
    try {
      slow.back()->send("GET /healthz HTTP/1.1\r\nHo");
    } catch (const std::runtime_error&) {
    }
  };
  open_slow("127.0.0.2");
  open_slow("127.0.0.2");
  REQUIRE(counts(2));
  // A third from that address is closed unanswered (2 of 4 are open in all); another is served.
  CHECK(answer_to("127.0.0.2") == 0);
  CHECK(answer_to("127.0.0.3") == 200);
  REQUIRE(counts(2));
  // Past max_connections in all, a new client is closed at once instead of left waiting.
  open_slow("127.0.0.4");
  open_slow("127.0.0.4");
  REQUIRE(counts(4));
  CHECK(answer_to("127.0.0.5") == 0);
  // Heads not finished within read_timeout_s are closed (the client's own timeout is 5 s).
  for (auto& connection : slow) {
    CHECK(connection->read_all().empty());
    CHECK(connection->peer_closed());
  }
  // That makes room again.
  REQUIRE(counts(0));
  CHECK(answer_to("127.0.0.2") == 200);
}
