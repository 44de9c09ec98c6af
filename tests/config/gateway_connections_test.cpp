#include <catch2/catch.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using muse::config::testing::problems_of;

TEST_CASE("connection limit keys have defaults and are read", "[config]") {
  deployment_config defaults = parse_config("{}");
  CHECK(defaults.gateway.max_connections_per_client == 128);
  CHECK(defaults.gateway.read_timeout_s == 10);

  deployment_config config =
      parse_config(R"({ "gateway": { "max_connections_per_client": 3, "read_timeout_s": 2 } })");
  CHECK(config.gateway.max_connections_per_client == 3);
  CHECK(config.gateway.read_timeout_s == 2);
}

TEST_CASE("connection limit keys are range checked", "[config]") {
  CHECK_THAT(problems_of(R"({ "gateway": { "max_connections_per_client": 0 } })"),
             Catch::Contains("gateway.max_connections_per_client: must be 1..1000000"));
  CHECK_THAT(problems_of(R"({ "gateway": { "read_timeout_s": 0 } })"),
             Catch::Contains("gateway.read_timeout_s: must be 1..3600"));
  CHECK_THAT(problems_of(R"({ "gateway": { "read_timeout_s": "soon" } })"),
             Catch::Contains("gateway.read_timeout_s"));
}
