#include <catch2/catch.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using muse::config::testing::problems_of;

TEST_CASE("job and image URL retention keys have defaults and are read", "[config]") {
  deployment_config defaults = parse_config("{}");
  CHECK(defaults.gateway.job_retention_s == 600);
  CHECK(defaults.gateway.max_jobs == 1000);
  CHECK(defaults.gateway.image_url_ttl_s == 3600);

  deployment_config config = parse_config(
      R"({ "gateway": { "job_retention_s": 5, "max_jobs": 7, "image_url_ttl_s": 60 } })");
  CHECK(config.gateway.job_retention_s == 5);
  CHECK(config.gateway.max_jobs == 7);
  CHECK(config.gateway.image_url_ttl_s == 60);
}

TEST_CASE("job and image URL retention keys are range checked", "[config]") {
  CHECK_THAT(problems_of(R"({ "gateway": { "job_retention_s": 0 } })"),
             Catch::Contains("gateway.job_retention_s"));
  CHECK_THAT(problems_of(R"({ "gateway": { "max_jobs": 0 } })"),
             Catch::Contains("gateway.max_jobs"));
  CHECK_THAT(problems_of(R"({ "gateway": { "image_url_ttl_s": "long" } })"),
             Catch::Contains("gateway.image_url_ttl_s"));
}
