#include <catch2/catch.hpp>
#include <cstdlib>

#include "config_test_support.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using muse::config::testing::problems_of;

TEST_CASE("a secret written into the file points to its *_env variant", "[config][secrets]") {
  CHECK_THAT(problems_of(R"({ "auth": { "api_keys": ["k1"] } })"),
             StartsWith("auth.api_keys: secrets never go in the config file"));
  CHECK_THAT(problems_of(R"({ "auth": { "api_keys": ["k1"] } })"),
             Contains("name that variable in \"api_keys_env\""));
  CHECK_THAT(problems_of(R"({ "slack": { "signing_secret": "abc" } })"),
             Contains("slack.signing_secret: secrets never go in the config file; put it in an "
                      "environment variable and name that variable in \"signing_secret_env\""));
  CHECK_THAT(problems_of(R"({ "slack": { "bot_token": "xoxb-1" } })"),
             Contains("slack.bot_token: secrets never go in the config file"));
  CHECK_THAT(problems_of(R"({ "slack": { "bot_token": "xoxb-1" } })"),
             Contains("\"bot_token_env\""));
  CHECK_THAT(problems_of(R"({ "gateway": { "admin_password": "hunter2" } })"),
             StartsWith("gateway.admin_password: secrets never go in the config file"));
}

TEST_CASE("a *_env key must hold a variable name, not the secret", "[config][secrets]") {
  CHECK_THAT(problems_of(R"({ "slack": { "bot_token_env": "xoxb-123-456" } })"),
             StartsWith("slack.bot_token_env: must name an environment variable"));
  CHECK_THAT(
      problems_of(R"({ "slack": { "signing_secret_env": "8f742231b10e8888abcd99yyyzzz" } })"),
      StartsWith("slack.signing_secret_env: must name an environment variable"));
  CHECK_THAT(
      problems_of(R"({ "slack": { "signing_secret_env": "8f742231b10e8888abcd99aaabbbccc" } })"),
      StartsWith("slack.signing_secret_env: must name an environment variable"));
  CHECK_THAT(problems_of(R"({ "auth": { "api_keys_env": 5 } })"),
             StartsWith("auth.api_keys_env: must be a string"));
  CHECK(problems_of(R"({ "auth": { "api_keys_env": "" } })") == "");
  CHECK(parse_config(R"({ "auth": { "api_keys_env": "MUSE_KEYS_2" } })").auth.api_keys_env ==
        "MUSE_KEYS_2");
}

TEST_CASE("secret_from_env reads the named variable", "[config][secrets]") {
  const char* name = "MUSE_CONFIG_TEST_SECRET";
  ::unsetenv(name);
  CHECK_FALSE(secret_from_env(name).has_value());
  CHECK_FALSE(secret_from_env("").has_value());
  ::setenv(name, "s3cret", 1);
  CHECK(secret_from_env(name) == std::optional<std::string>("s3cret"));
  ::unsetenv(name);
}
