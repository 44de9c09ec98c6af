#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "fake_slack.hpp"
#include "frontend_server.hpp"
#include "http/slack_signature.hpp"

using muse::testing::fake_gateway;
using muse::testing::fake_slack;
using muse::testing::frontend_server;
using muse::testing::http_request;
using nlohmann::json;

namespace {

const char* secret = "8f742231b10e8888abcd99yyyzzz85a5";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> signed_headers(const std::string& body, int64_t timestamp,
                                        const std::string& key = secret) {
  const std::string ts = std::to_string(timestamp);
  return {"Content-Type: application/x-www-form-urlencoded", "X-Slack-Request-Timestamp: " + ts,
          "X-Slack-Signature: v0=" + muse::http::hmac_sha256_hex(key, "v0:" + ts + ":" + body)};
}

muse::config::deployment_config slack_config(const fake_slack& slack, const std::string& mode) {
  ::setenv("MUSE_FRONTENDS_SLACK_SECRET", secret, 1);
  ::setenv("MUSE_FRONTENDS_SLACK_TOKEN", "xoxb-test-token", 1);
  auto config = muse::testing::frontend_config();
  config.slack.signing_secret_env = "MUSE_FRONTENDS_SLACK_SECRET";
  config.slack.bot_token_env = "MUSE_FRONTENDS_SLACK_TOKEN";
  config.slack.api_base = slack.url("/api");
  config.slack.post_mode = mode;
  return config;
}

std::string command_body(const fake_slack& slack, const std::string& text) {
  // As Slack sends it: form-encoded, with the response_url escaped.
  std::string url = slack.url("/response");
  std::string escaped;
  for (char c : url)
    escaped += c == ':' ? std::string("%3A") : c == '/' ? std::string("%2F") : std::string(1, c);
  return "token=x&team_id=T1&channel_id=C42&user_id=U7&command=%2Fmuse&text=" + text +
         "&response_url=" + escaped;
}

}  // namespace

TEST_CASE("Slack's signature checks out for its documented example", "[slack]") {
  // The example of Slack's "Verifying requests from Slack" page.
  const std::string body =
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
      "G8PSS9T3V"
      "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
      "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%"
      "2F96rGlfmib"
      "IGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
  const std::string signature =
      "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
  CHECK(muse::http::slack_signature_problem(secret, "1531420618", body, signature, 1531420618) ==
        "");
  CHECK_THAT(
      muse::http::slack_signature_problem(secret, "1531420618", body + "x", signature, 1531420618),
      Catch::Contains("does not match"));
  CHECK_THAT(
      muse::http::slack_signature_problem(secret, "1531420618", body, signature, 1531420618 + 301),
      Catch::Contains("5 minutes"));
  CHECK_THAT(muse::http::slack_signature_problem(secret, "", body, signature, 1531420618),
             Catch::Contains("missing"));
}

TEST_CASE("a bad, missing or stale Slack signature is 401 and generates nothing", "[slack]") {
  fake_slack slack;
  frontend_server s(slack_config(slack, "response_url"));
  const std::string body = command_body(slack, "a+red+fox");
  auto unsigned_ = http_request("POST", s.url("/slack/commands"), body,
                                {"Content-Type: application/x-www-form-urlencoded"});
  CHECK(unsigned_.status == 401);
  CHECK(http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s(), "wrong"))
            .status == 401);
  CHECK(http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s() - 400))
            .status == 401);
  CHECK(http_request("POST", s.url("/slack/commands"), body + "&x=1", signed_headers(body, now_s()))
            .status == 401);
  CHECK(s.gateway.wait_submitted(1, std::chrono::milliseconds(200)).empty());
  CHECK(slack.calls().empty());
}

TEST_CASE("a Slack command answers at once, then posts an image block to response_url", "[slack]") {
  fake_slack slack;
  frontend_server s(slack_config(slack, "response_url"));
  const std::string body = command_body(slack, "a+red+fox");
  auto answer = http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s()));
  REQUIRE(answer.status == 200);
  json ack = json::parse(answer.body);
  CHECK(ack["response_type"] == "ephemeral");
  CHECK(ack["text"] == "Generating \"a red fox\"...");

  std::string id = s.gateway.wait_submitted(1);
  REQUIRE_FALSE(id.empty());
  auto order = s.gateway.order(id);
  CHECK(order.samples.at(0).prompt == "a red fox");
  s.gateway.complete(id);
  auto calls = slack.wait_calls(1);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].path == "/response");
  CHECK(calls[0].content_type == "application/json");
  json posted = json::parse(calls[0].body);
  CHECK(posted["response_type"] == "in_channel");
  const std::string url = posted["blocks"][0]["image_url"];
  CHECK(posted["blocks"][0]["type"] == "image");
  CHECK(posted["blocks"][0]["alt_text"] == "a red fox");
  const std::string prefix = "http://muse.example.org/api/v1/images/";
  REQUIRE(url.rfind(prefix, 0) == 0);
  auto image = http_request("GET", s.url("/api/v1/images/" + url.substr(prefix.size())));
  CHECK(image.status == 200);
  CHECK(image.body == fake_gateway::fake_png(order.samples[0].seed));
}

TEST_CASE("a failed generation is told to the user in Slack", "[slack]") {
  fake_slack slack;
  frontend_server s(slack_config(slack, "response_url"));
  const std::string body = command_body(slack, "a+fox");
  REQUIRE(
      http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s())).status ==
      200);
  s.gateway.complete(s.gateway.wait_submitted(1), muse::actors::failure::timeout);
  auto calls = slack.wait_calls(1);
  REQUIRE(calls.size() == 1);
  json posted = json::parse(calls[0].body);
  CHECK(posted["response_type"] == "ephemeral");
  CHECK_THAT(posted["text"].get<std::string>(), Catch::Contains("failed"));

  // An empty command gets the usage, and nothing is generated.
  const std::string empty = command_body(slack, "");
  auto usage =
      http_request("POST", s.url("/slack/commands"), empty, signed_headers(empty, now_s()));
  CHECK_THAT(json::parse(usage.body)["text"].get<std::string>(), Catch::Contains("Usage: /muse"));
  CHECK(s.gateway.wait_submitted(2, std::chrono::milliseconds(200)).empty());
}

TEST_CASE("upload mode: getUploadURLExternal, the upload, completeUploadExternal", "[slack]") {
  fake_slack slack;
  frontend_server s(slack_config(slack, "upload"));
  const std::string body = command_body(slack, "a+fox");
  REQUIRE(
      http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s())).status ==
      200);
  std::string id = s.gateway.wait_submitted(1);
  const uint64_t seed = s.gateway.order(id).samples.at(0).seed;
  const std::string png = fake_gateway::fake_png(seed);
  s.gateway.complete(id);
  auto calls = slack.wait_calls(3);
  REQUIRE(calls.size() == 3);
  CHECK(calls[0].path == "/api/files.getUploadURLExternal");
  CHECK(calls[0].authorization == "Bearer xoxb-test-token");
  CHECK(calls[0].body ==
        "filename=muse-" + std::to_string(seed) + ".png&length=" + std::to_string(png.size()));
  CHECK(calls[1].path == "/upload/F123");
  CHECK(calls[1].body == png);
  CHECK(calls[2].path == "/api/files.completeUploadExternal");
  CHECK(calls[2].authorization == "Bearer xoxb-test-token");
  json complete = json::parse(calls[2].body);
  CHECK(complete["channel_id"] == "C42");
  CHECK(complete["files"][0]["id"] == "F123");
  CHECK(complete["files"][0]["title"] == "a fox");
  // Nothing more: the upload is the answer.
  CHECK(slack.wait_calls(4, std::chrono::milliseconds(200)).size() == 3);
}

TEST_CASE("upload mode: a refused upload is told to the user through response_url", "[slack]") {
  fake_slack slack;
  slack.refuse_complete = true;
  frontend_server s(slack_config(slack, "upload"));
  const std::string body = command_body(slack, "a+fox");
  REQUIRE(
      http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s())).status ==
      200);
  s.gateway.complete(s.gateway.wait_submitted(1));
  auto calls = slack.wait_calls(4);
  REQUIRE(calls.size() == 4);
  CHECK(calls[3].path == "/response");
  CHECK_THAT(json::parse(calls[3].body)["text"].get<std::string>(),
             Catch::Contains("not_in_channel"));
}

TEST_CASE("a Slack command whose text is not UTF-8 is a 400 naming the field", "[slack]") {
  fake_slack slack;
  frontend_server s(slack_config(slack, "response_url"));
  for (const char* bad : {"%FF", "%C0%AF", "%ED%A0%80", "%E2%82", "a+%E2%82+b"}) {
    INFO(bad);
    const std::string body = command_body(slack, bad);
    auto answer =
        http_request("POST", s.url("/slack/commands"), body, signed_headers(body, now_s()));
    CHECK(answer.status == 400);
    json error = json::parse(answer.body)["error"];
    CHECK(error["code"] == "invalid_request");
    CHECK(error["field"] == "text");
  }
  const std::string valid = command_body(slack, "caf%C3%A9");
  CHECK(http_request("POST", s.url("/slack/commands"), valid, signed_headers(valid, now_s()))
            .status == 200);
  // Only the valid one was submitted.
  std::string id = s.gateway.wait_submitted(1);
  REQUIRE_FALSE(id.empty());
  CHECK(s.gateway.order(id).samples.at(0).prompt == "caf\xC3\xA9");
  CHECK(s.gateway.wait_submitted(2, std::chrono::milliseconds(100)).empty());
}
