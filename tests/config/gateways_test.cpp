// The `gateways` list: several gateways over one pool of workers.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using muse::config::testing::problems_of;

TEST_CASE("without a gateways list the deployment has one gateway", "[config][gateways]") {
  CHECK(parse_config("{}").gateways.empty());
  CHECK(parse_config(R"({ "gateways": [] })").gateways.empty());
  CHECK(to_json(parse_config("{}"))["gateways"] == nlohmann::json::array());
}

TEST_CASE("each gateway takes its host and ports from the gateway section unless given",
          "[config][gateways]") {
  auto config = parse_config(R"({
    "gateway": { "host": "10.0.0.9", "http_port": 9000, "cluster_port": 9100 },
    "gateways": [ { "name": "gw-1" },
                  { "name": "gw-2", "host": "10.0.0.10", "http_port": 9001, "cluster_port": 9101 } ]
  })");
  REQUIRE(config.gateways.size() == 2);
  CHECK(config.gateways[0].name == "gw-1");
  CHECK(config.gateways[0].host == "10.0.0.9");
  CHECK(config.gateways[0].http_port == 9000);
  CHECK(config.gateways[0].cluster_port == 9100);
  CHECK(config.gateways[1].host == "10.0.0.10");
  CHECK(config.gateways[1].http_port == 9001);
  CHECK(config.gateways[1].cluster_port == 9101);
  // to_json writes every entry in full, and reads back to the same values.
  auto again = parse_config(to_json(config).dump());
  REQUIRE(again.gateways.size() == 2);
  CHECK(again.gateways[1].name == "gw-2");
  CHECK(again.gateways[0].cluster_port == 9100);
}

TEST_CASE("gateways entries are checked key by key and across keys", "[config][gateways]") {
  CHECK_THAT(problems_of(R"({ "gateways": [ { "host": "a" } ] })"),
             Contains("gateways[0].name: required"));
  CHECK_THAT(problems_of(R"({ "gateways": [ { "name": "bad name" } ] })"),
             Contains("gateways[0].name: may hold only letters"));
  CHECK_THAT(problems_of(R"({ "gateways": [ { "name": "a", "cluster_port": 0 } ] })"),
             Contains("gateways[0].cluster_port: must be 1..65535"));
  CHECK_THAT(problems_of(R"({ "gateways": [ { "name": "a", "prot": 1 } ] })"),
             Contains("gateways[0].prot: unknown key"));
  CHECK_THAT(problems_of(R"({ "gateways": { "name": "a" } })"), Contains("gateways: "));
  CHECK_THAT(problems_of(R"({ "gateways": [ "gw-1" ] })"),
             Contains("gateways[0]: must be an object"));
  CHECK_THAT(problems_of(R"({ "gateways": [ { "name": "a", "cluster_port": 5000 },
                                            { "name": "a", "cluster_port": 5001 } ] })"),
             Contains("gateways[1].name: \"a\" is already the name of gateways[0]"));
  CHECK_THAT(problems_of(R"({ "gateways": [ { "name": "a", "cluster_port": 5000 },
                                            { "name": "b", "cluster_port": 5000 } ] })"),
             Contains("gateways[1].cluster_port: 127.0.0.1:5000 is already used by gateways[0]"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "n", "port": 5000 } ],
                              "gateways": [ { "name": "a", "cluster_port": 5000 } ] })"),
             Contains("gateways[0].cluster_port: 127.0.0.1:5000 is already used by gpu_nodes[0]"));
  CHECK_THAT(problems_of(R"({ "gateways": [ { "name": "a", "http_port": 5000,
                                              "cluster_port": 5000 } ] })"),
             Contains("gateways[0].cluster_port: must differ from its http_port"));
}

TEST_CASE("the shipped cluster-2-gateways.json parses: two gateways, two GPU nodes",
          "[config][gateways][files]") {
  auto config = load_config_file(MUSE_SOURCE_DIR "/cluster_config/cluster-2-gateways.json");
  REQUIRE(config.gateways.size() == 2);
  CHECK(config.gateways[0].name == "gw-1");
  CHECK(config.gateways[1].name == "gw-2");
  CHECK(config.gateways[0].http_port == 8080);
  CHECK(config.gateways[1].http_port == 8081);
  CHECK(config.gateways[0].cluster_port == 4300);
  CHECK(config.gateways[1].cluster_port == 4303);
  CHECK(config.gpu_nodes.size() == 2);
}
