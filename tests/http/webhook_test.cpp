// Job webhooks against a receiver on loopback: which URLs a job may name, the signed delivery,
// retries with backoff, and the last attempt on shutdown.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "http/base64.hpp"
#include "http/slack_signature.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/prometheus_check.hpp"
#include "tests/support/server_on_fake_gateway.hpp"
#include "webhook_receiver.hpp"

using muse::testing::fake_gateway;
using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::server_on_fake_gateway;
using muse::testing::webhook_receiver;
using nlohmann::json;

namespace {

constexpr const char* secret_variable = "MUSE_WEBHOOK_TEST_SECRET";
constexpr const char* secret = "test-signing-secret";

// Webhooks to 127.0.0.1, signed with the test's secret, retried after 10 ms, 20 ms...
muse::config::deployment_config webhook_config(int retries = 5, double backoff_s = 0.01) {
  ::setenv(secret_variable, secret, 1);
  muse::config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.http_threads = 2;
  config.gateway.max_body_bytes = 4096;
  config.gateway.webhook_hosts = {"127.0.0.1"};
  config.gateway.webhook_secret_env = secret_variable;
  config.gateway.webhook_retries = retries;
  config.gateway.webhook_backoff_s = backoff_s;
  config.models[0].width = 64;
  config.models[0].height = 64;
  config.models[0].scheduler = "ddim";
  return config;
}

// Orders wait until the test completes them.
struct webhook_server : server_on_fake_gateway {
  explicit webhook_server(const muse::config::deployment_config& config = webhook_config())
      : server_on_fake_gateway(config, fake_gateway::answers::scripted) {}

  // The created job's id; the test fails when it is refused.
  std::string create(const std::string& webhook, const std::string& prompt = "a cat") {
    auto created =
        post("/api/v1/jobs", json{{"prompt", prompt}, {"seed", 7}, {"webhook", webhook}}.dump());
    INFO(created.body);
    REQUIRE(created.status == 202);
    return json::parse(created.body)["id"];
  }
  json job(const std::string& id) const { return json::parse(get("/api/v1/jobs/" + id).body); }
  // Waits until the job's webhook is no longer pending; returns its state.
  json settled_webhook(const std::string& id) const {
    json webhook;
    CHECK(muse::testing::eventually(
        [&] {
          webhook = job(id)["webhook"];
          return webhook["state"] != "pending";
        },
        std::chrono::seconds(10), std::chrono::milliseconds(10)));
    return webhook;
  }
  double metric(const std::string& result) const {
    auto parsed = muse::testing::parse_prometheus(get("/metrics").body);
    return parsed.samples.at("muse_webhook_deliveries_total{result=\"" + result + "\"}");
  }
};

json error_of(const http_response& response) { return json::parse(response.body)["error"]; }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("a job's webhook must be an http(s) URL on an allowed host", "[webhook][server]") {
  webhook_server s;
  auto refused = [&](const json& webhook) {
    auto response = s.post("/api/v1/jobs", json{{"prompt", "a cat"}, {"webhook", webhook}}.dump());
    CHECK(response.status == 400);
    json error = error_of(response);
    CHECK(error["code"] == "invalid_request");
    CHECK(error["field"] == "webhook");
    return error["message"].get<std::string>();
  };
  CHECK_THAT(refused("http://localhost/hook"), Catch::Contains("host \"localhost\" is not one"));
  CHECK_THAT(refused("ftp://127.0.0.1/hook"), Catch::Contains("http:// or https://"));
  CHECK_THAT(refused("http://me:pw@127.0.0.1/hook"), Catch::Contains("user name or password"));
  CHECK_THAT(refused("http://127.0.0.1:70000/hook"), Catch::Contains("not a valid URL"));
  CHECK_THAT(refused(42), Catch::Contains("webhook must be a string"));
  CHECK(s.gateway.submitted().empty());

  // Only the jobs route takes it; the synchronous one answers on its own connection.
  auto generate =
      s.post("/api/v1/generate", R"({"prompt": "a cat", "webhook": "http://127.0.0.1/"})");
  CHECK(generate.status == 400);
  CHECK(error_of(generate)["field"] == "webhook");
  CHECK_THAT(error_of(generate)["message"].get<std::string>(),
             Catch::Contains("unknown field 'webhook'"));

  // A multipart form names it as a text part; null (JSON) or empty (form) is none.
  auto form =
      s.post_form("/api/v1/jobs", {{"prompt", "a cat"}, {"webhook", "http://127.0.0.1:9/x"}});
  CHECK(form.status == 202);
  CHECK(json::parse(form.body)["webhook"] ==
        json{{"url", "http://127.0.0.1:9/x"}, {"state", "pending"}, {"attempts", 0}});
  auto none = s.post("/api/v1/jobs", R"({"prompt": "a cat", "webhook": null})");
  CHECK(none.status == 202);
  CHECK_FALSE(json::parse(none.body).contains("webhook"));
}

TEST_CASE("webhooks are refused when no host is allowed, or no secret is set",
          "[webhook][server]") {
  {
    auto config = webhook_config();
    config.gateway.webhook_hosts.clear();
    webhook_server s(config);
    auto response =
        s.post("/api/v1/jobs", R"({"prompt": "a cat", "webhook": "http://127.0.0.1/hook"})");
    CHECK(response.status == 400);
    CHECK(error_of(response)["field"] == "webhook");
    CHECK_THAT(error_of(response)["message"].get<std::string>(),
               Catch::Contains("allows no webhook hosts"));
  }
  auto config = webhook_config();
  config.gateway.webhook_secret_env = "MUSE_WEBHOOK_TEST_UNSET_SECRET";
  ::unsetenv("MUSE_WEBHOOK_TEST_UNSET_SECRET");
  webhook_server s(config);
  auto response =
      s.post("/api/v1/jobs", R"({"prompt": "a cat", "webhook": "http://127.0.0.1/hook"})");
  CHECK(response.status == 400);
  CHECK(error_of(response)["field"] == "webhook");
  CHECK_THAT(error_of(response)["message"].get<std::string>(),
             Catch::Contains("gateway.webhook_secret_env"));
  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("a finished job is posted to its webhook, signed", "[webhook][server]") {
  webhook_receiver receiver;
  webhook_server s;
  const std::string id = s.create(receiver.url("/hook?from=muse"));
  CHECK(s.job(id)["webhook"] ==
        json{{"url", receiver.url("/hook?from=muse")}, {"state", "pending"}, {"attempts", 0}});
  CHECK(receiver.calls().empty());
  s.gateway.complete(id);

  auto calls = receiver.wait_calls(1);
  REQUIRE(calls.size() == 1);
  const auto& call = calls[0];
  CHECK(call.method == "POST");
  CHECK(call.path == "/hook");
  CHECK(call.content_type == "application/json");
  // The timestamp is now's, and the signature is the HMAC the receiver recomputes.
  REQUIRE_FALSE(call.timestamp.empty());
  const int64_t sent = std::stoll(call.timestamp);
  CHECK(std::llabs(sent - unix_now()) <= 60);
  CHECK(call.signature ==
        "v0=" + muse::http::hmac_sha256_hex(secret, "v0:" + call.timestamp + ":" + call.body));
  CHECK(call.signature != "v0=" + muse::http::hmac_sha256_hex(
                                      "another secret", "v0:" + call.timestamp + ":" + call.body));
  // The body is the job as GET shows it, the PNGs included; not its own delivery state.
  json body = json::parse(call.body);
  CHECK(body["id"] == id);
  CHECK(body["status"] == "done");
  REQUIRE(body["images"].size() == 1);
  CHECK(body["images"][0]["seed"] == 7);
  CHECK(body["images"][0]["png_base64"] ==
        muse::http::base64_encode(muse::testing::fake_gateway::fake_png(7)));
  CHECK_FALSE(body.contains("webhook"));
  json shown = s.job(id);
  shown.erase("webhook");
  CHECK(body == shown);

  CHECK(s.settled_webhook(id) ==
        json{{"url", receiver.url("/hook?from=muse")}, {"state", "delivered"}, {"attempts", 1}});
  CHECK(s.metric("delivered") == 1);
  CHECK(s.metric("retried") == 0);
  CHECK(s.metric("failed") == 0);
  CHECK(receiver.calls().size() == 1);
}

TEST_CASE("failed and cancelled jobs are posted too", "[webhook][server]") {
  webhook_receiver receiver;
  webhook_server s;
  const std::string failed = s.create(receiver.url());
  const std::string cancelled = s.create(receiver.url());
  s.gateway.complete(failed, muse::actors::failure::timeout);
  REQUIRE(receiver.wait_calls(1).size() == 1);
  CHECK(http_request("DELETE", s.url("/api/v1/jobs/" + cancelled)).status == 202);
  auto calls = receiver.wait_calls(2);
  REQUIRE(calls.size() == 2);
  json first = json::parse(calls[0].body);
  CHECK(first["id"] == failed);
  CHECK(first["status"] == "failed");
  CHECK(first["error"]["code"] == "timeout");
  json second = json::parse(calls[1].body);
  CHECK(second["id"] == cancelled);
  CHECK(second["status"] == "cancelled");
  CHECK(s.settled_webhook(cancelled)["state"] == "delivered");
}

TEST_CASE("a 5xx or 429 is retried with backoff until a 2xx", "[webhook][server]") {
  webhook_receiver receiver({500, 429, 200});
  webhook_server s(webhook_config(/*retries=*/5, /*backoff_s=*/0.05));
  const std::string id = s.create(receiver.url());
  s.gateway.complete(id);
  auto calls = receiver.wait_calls(3);
  REQUIRE(calls.size() == 3);
  // 50 ms, then 100 ms: the backoff doubles.
  CHECK(calls[1].at - calls[0].at >= std::chrono::milliseconds(45));
  CHECK(calls[2].at - calls[1].at >= std::chrono::milliseconds(95));
  // Each attempt is signed afresh over the same body.
  for (const auto& call : calls) {
    CHECK(call.body == calls[0].body);
    CHECK(call.signature ==
          "v0=" + muse::http::hmac_sha256_hex(secret, "v0:" + call.timestamp + ":" + call.body));
  }
  CHECK(s.settled_webhook(id)["attempts"] == 3);
  CHECK(s.job(id)["webhook"]["state"] == "delivered");
  CHECK(s.metric("retried") == 2);
  CHECK(s.metric("delivered") == 1);
}

TEST_CASE("a webhook fails on another 4xx at once, and after its retries on 5xx",
          "[webhook][server]") {
  webhook_receiver refusing({404});
  webhook_receiver down({503, 503, 503, 503});
  webhook_server s(webhook_config(/*retries=*/2));
  const std::string refused = s.create(refusing.url());
  const std::string unlucky = s.create(down.url());
  s.gateway.complete(refused);
  s.gateway.complete(unlucky);
  CHECK(s.settled_webhook(refused) ==
        json{{"url", refusing.url()}, {"state", "failed"}, {"attempts", 1}});
  CHECK(s.settled_webhook(unlucky)["state"] == "failed");
  CHECK(s.job(unlucky)["webhook"]["attempts"] == 3);  // the first and two retries
  CHECK(refusing.calls().size() == 1);
  CHECK(down.calls().size() == 3);
  CHECK(s.metric("failed") == 2);
  CHECK(s.metric("retried") == 2);
  CHECK(s.metric("delivered") == 0);
}

TEST_CASE("a receiver that is not listening counts as down and is retried", "[webhook][server]") {
  // A port that was just free: nothing listens there any more.
  std::string gone_url;
  {
    webhook_receiver gone;
    gone_url = gone.url();
  }
  webhook_server s(webhook_config(/*retries=*/1));
  const std::string id = s.create(gone_url);
  s.gateway.complete(id);
  json webhook = s.settled_webhook(id);
  CHECK(webhook["state"] == "failed");
  CHECK(webhook["attempts"] == 2);
  CHECK(s.metric("retried") == 1);
}

TEST_CASE("on shutdown a delivery waiting for its retry is attempted once more, at once",
          "[webhook][server]") {
  webhook_receiver receiver({500, 200});
  std::chrono::steady_clock::duration stop_took{};
  {
    // The retry would come in 10 minutes.
    webhook_server s(webhook_config(/*retries=*/5, /*backoff_s=*/600));
    const std::string id = s.create(receiver.url());
    s.gateway.complete(id);
    REQUIRE(receiver.wait_calls(1).size() == 1);
    REQUIRE(muse::testing::eventually([&] { return s.job(id)["webhook"]["attempts"] == 1; }));
    const auto start = std::chrono::steady_clock::now();
    s.server.stop(std::chrono::seconds(3));
    stop_took = std::chrono::steady_clock::now() - start;
  }
  CHECK(receiver.calls().size() == 2);
  CHECK(stop_took < std::chrono::seconds(3));
}

TEST_CASE("on shutdown a job's webhook goes out within the grace, not after", "[webhook][server]") {
  webhook_receiver receiver;
  {
    webhook_server s;
    const std::string id = s.create(receiver.url());
    // The gateway shuts down first, failing the job; the server's stop then delivers it.
    s.gateway.shutdown(std::chrono::milliseconds(0));
    s.server.stop(std::chrono::seconds(3));
    CHECK(receiver.calls().size() == 1);
    REQUIRE_FALSE(receiver.calls().empty());
    CHECK(json::parse(receiver.calls()[0].body)["error"]["code"] == "shutting_down");
  }
}
