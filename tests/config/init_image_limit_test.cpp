#include <catch2/catch.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using muse::config::testing::problems_of;

TEST_CASE("the init image limit has a default, is read and is range checked", "[config]") {
  CHECK(parse_config("{}").gateway.max_init_image_bytes == 4194304);
  CHECK(parse_config(R"({ "gateway": { "max_init_image_bytes": 1000 } })")
            .gateway.max_init_image_bytes == 1000);
  CHECK(to_json(parse_config("{}"))["gateway"]["max_init_image_bytes"] == 4194304);
  CHECK_THAT(problems_of(R"({ "gateway": { "max_init_image_bytes": 0 } })"),
             Catch::Contains("gateway.max_init_image_bytes"));
  CHECK_THAT(problems_of(R"({ "gateway": { "max_init_image_bytes": "4MB" } })"),
             Catch::Contains("gateway.max_init_image_bytes"));
}
