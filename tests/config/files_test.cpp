#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"
#include "tests/support/temp_folder.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using muse::config::testing::problems_of;
using muse::testing::temp_folder;
namespace fs = std::filesystem;

TEST_CASE("relative paths resolve against the config file's folder", "[config][files]") {
  temp_folder dir;
  dir.write("certs/node.pem", "cert");
  dir.write("certs/node.key", "key");
  dir.write("ca.pem", "ca");
  fs::path file = dir.write("etc/deploy.json", R"({
    "model": { "path": "../weights/tiny" },
    "cluster": { "tls": { "certificate": "../certs/node.pem", "private_key": "../certs/node.key",
                          "ca_file": ")" + (dir.path() / "ca.pem").string() +
                                                   R"(" } }
  })");
  deployment_config config = load_config_file(file.string());
  CHECK(config.source_path == file.string());
  CHECK(config.models[0].path == (dir.path() / "weights/tiny").string());
  CHECK(config.cluster.tls->certificate == (dir.path() / "certs/node.pem").string());
  CHECK(config.cluster.tls->private_key == (dir.path() / "certs/node.key").string());
  CHECK(config.cluster.tls->ca_file == (dir.path() / "ca.pem").string());
}

TEST_CASE("absolute paths and paths parsed from text stay as given", "[config][files]") {
  CHECK(parse_config(R"({ "model": { "path": "../w" } })").default_model().path == "../w");
  temp_folder dir;
  fs::path file = dir.write("deploy.json", R"({ "model": { "path": "/opt/models/sd" } })");
  CHECK(load_config_file(file.string()).default_model().path == "/opt/models/sd");
}

TEST_CASE("TLS files named in a config file must exist", "[config][files]") {
  temp_folder dir;
  dir.write("cert.pem", "cert");
  fs::path file = dir.write("deploy.json", R"({ "cluster": { "tls": {
    "certificate": "cert.pem", "private_key": "missing.key", "ca_file": "missing-ca.pem" } } })");
  try {
    load_config_file(file.string());
    FAIL("missing TLS files were accepted");
  } catch (const config_error& error) {
    std::string what = error.what();
    CHECK_THAT(what, StartsWith("cluster.tls.private_key: no such file: " +
                                (dir.path() / "missing.key").string()));
    CHECK_THAT(what, Contains("cluster.tls.ca_file: no such file"));
    CHECK_THAT(what, !Contains("cluster.tls.certificate"));
  }
}

TEST_CASE("a missing file and JSON errors in a file name the file", "[config][files]") {
  temp_folder dir;
  std::string missing = (dir.path() / "nope.json").string();
  CHECK_THROWS_WITH(load_config_file(missing), StartsWith(missing + ": cannot open"));
  fs::path broken = dir.write("broken.json", "{\n  \"model\": { \"path\": }\n}\n");
  CHECK_THROWS_WITH(load_config_file(broken.string()), StartsWith(broken.string() + ":2:"));
}

TEST_CASE("the shipped local.json parses: one CPU node and the built-in model", "[config][files]") {
  deployment_config config = load_config_file(MUSE_SOURCE_DIR "/cluster_config/local.json");
  REQUIRE(config.gpu_nodes.size() == 1);
  CHECK(config.gpu_nodes[0].devices == std::vector<std::string>{"cpu"});
  CHECK(config.models[0].path ==
        fs::path(MUSE_SOURCE_DIR "/model/weights/muse-tiny").lexically_normal().string());
  // Open on one machine: a named key variable that is unset would stop the gateway from starting.
  CHECK(config.auth.api_keys_env == "");
  CHECK(problems_of(to_json(config).dump()) == "");
}

TEST_CASE("the shipped cluster.json parses: a gateway and two GPU nodes on loopback",
          "[config][files]") {
  deployment_config config = load_config_file(MUSE_SOURCE_DIR "/cluster_config/cluster.json");
  REQUIRE(config.gpu_nodes.size() == 2);
  for (const auto& node : config.gpu_nodes) {
    CHECK(node.host == "127.0.0.1");
    CHECK(node.devices.front().rfind("cuda", 0) == 0);
  }
  CHECK(config.gpu_nodes[0].port != config.gpu_nodes[1].port);
  CHECK(to_json(parse_config(to_json(config).dump())) == to_json(config));
}

TEST_CASE("the shipped sdxl.json parses: one GPU, SDXL's size and sampler", "[config][files]") {
  deployment_config config = load_config_file(MUSE_SOURCE_DIR "/cluster_config/sdxl.json");
  REQUIRE(config.gpu_nodes.size() == 1);
  CHECK(config.gpu_nodes[0].devices == std::vector<std::string>{"cuda:0"});
  CHECK(config.models[0].width == 1024);
  CHECK(config.models[0].height == 1024);
  CHECK(config.models[0].dtype == "float16");
  CHECK(config.gateway.max_init_image_bytes < config.gateway.max_body_bytes);
  CHECK(problems_of(to_json(config).dump()) == "");
}
