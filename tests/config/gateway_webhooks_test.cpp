// The keys of async jobs' webhooks: the allowed hosts, the secret's variable, the retries.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using muse::config::testing::problems_of;

TEST_CASE("webhook keys have defaults and are read", "[config][webhook]") {
  deployment_config defaults = parse_config("{}");
  CHECK(defaults.gateway.webhook_hosts.empty());
  CHECK(defaults.gateway.webhook_secret_env == "MUSE_WEBHOOK_SECRET");
  CHECK(defaults.gateway.webhook_retries == 5);
  CHECK(defaults.gateway.webhook_backoff_s == 1.0);

  deployment_config config = parse_config(R"({ "gateway": {
    "webhook_hosts": ["hooks.example.org", "10.0.0.7", "[::1]"],
    "webhook_secret_env": "HOOK_KEY", "webhook_retries": 0, "webhook_backoff_s": 0.25 } })");
  CHECK(config.gateway.webhook_hosts ==
        std::vector<std::string>{"hooks.example.org", "10.0.0.7", "[::1]"});
  CHECK(config.gateway.webhook_secret_env == "HOOK_KEY");
  CHECK(config.gateway.webhook_retries == 0);
  CHECK(config.gateway.webhook_backoff_s == 0.25);

  auto effective = to_json(config);
  CHECK(effective["gateway"]["webhook_hosts"] == config.gateway.webhook_hosts);
  CHECK(effective["gateway"]["webhook_backoff_s"] == 0.25);
  CHECK(to_json(parse_config(effective.dump())) == effective);
}

TEST_CASE("webhook keys are range and type checked", "[config][webhook]") {
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_retries": 21 } })"),
             Contains("gateway.webhook_retries: must be 0..20"));
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_retries": -1 } })"),
             Contains("gateway.webhook_retries"));
  CHECK(problems_of(R"({ "gateway": { "webhook_retries": 20 } })") == "");
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_backoff_s": 0.001 } })"),
             Contains("gateway.webhook_backoff_s"));
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_backoff_s": 601 } })"),
             Contains("gateway.webhook_backoff_s"));
  CHECK(problems_of(R"({ "gateway": { "webhook_backoff_s": 600 } })") == "");
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_hosts": "hooks.example.org" } })"),
             Contains("gateway.webhook_hosts: must be an array of strings"));
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_secret_env": "a secret!" } })"),
             Contains("gateway.webhook_secret_env"));
}

TEST_CASE("webhook hosts are host names, not URLs", "[config][webhook]") {
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_hosts": ["https://hooks.example.org"] } })"),
             Contains("gateway.webhook_hosts[0]: must be a host name or address"));
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_hosts": ["ok.example", "a.example:8080"] } })"),
             Contains("gateway.webhook_hosts[1]"));
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_hosts": ["*.example.org"] } })"),
             Contains("gateway.webhook_hosts[0]"));
  CHECK_THAT(problems_of(R"({ "gateway": { "webhook_hosts": [""] } })"),
             Contains("gateway.webhook_hosts[0]: must not be empty"));
}

TEST_CASE("hosts without a secret to sign with fail a process serving HTTP",
          "[config][webhook][environment]") {
  const char* name = "MUSE_CONFIG_TEST_WEBHOOK_SECRET";
  deployment_config config;
  config.models[0].type = "benchmark_zero_compute";  // no model files to check
  config.gateway.webhook_secret_env = name;
  process_needs needs;
  ::unsetenv(name);
  CHECK_NOTHROW(check_environment(config, needs));  // no hosts: no webhooks, no secret needed
  config.gateway.webhook_hosts = {"hooks.example.org"};
  CHECK_THROWS_WITH(check_environment(config, needs),
                    Contains("gateway.webhook_secret_env: names " + std::string(name) +
                             ", which is unset or empty"));
  ::setenv(name, "", 1);
  CHECK_THROWS_AS(check_environment(config, needs), config_error);
  needs.serves_http = false;
  CHECK_NOTHROW(check_environment(config, needs));
  needs.serves_http = true;
  ::setenv(name, "s3cret", 1);
  CHECK_NOTHROW(check_environment(config, needs));
  ::unsetenv(name);
}
