// What a valid config asks of the machine (check_environment, behind muse-node --check-config),
// the model.config_dir key, API keys from the environment and public_url as the config holds it.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"
#include "tests/support/temp_folder.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using muse::config::testing::problems_of;
using muse::testing::temp_folder;
namespace fs = std::filesystem;

namespace {

// what() of the config_error check_environment raises for the config; "" when it passes.
std::string environment_problems(const deployment_config& config, bool loads_model,
                                 bool serves_http) {
  process_needs needs;
  needs.loads_model = loads_model;
  needs.serves_http = serves_http;
  try {
    check_environment(config, needs);
  } catch (const config_error& error) {
    return error.what();
  }
  return "";
}

deployment_config with_model(const fs::path& path, const std::string& config_dir = "") {
  deployment_config config;
  config.models[0].path = path.string();
  config.models[0].config_dir = config_dir;
  return config;
}

}  // namespace

TEST_CASE("model.config_dir: default, relative to the file, in to_json", "[config][environment]") {
  CHECK(parse_config("{}").default_model().config_dir == "");
  temp_folder dir;
  fs::path file = dir.write("etc/deploy.json", R"({ "model": {
    "path": "../weights/sd.safetensors", "config_dir": "../configs/sd" } })");
  deployment_config config = load_config_file(file.string());
  CHECK(config.models[0].path == (dir.path() / "weights/sd.safetensors").string());
  CHECK(config.models[0].config_dir == (dir.path() / "configs/sd").string());
  auto effective = to_json(config);
  CHECK(effective["model"]["config_dir"] == config.models[0].config_dir);
  CHECK(parse_config(effective.dump()).default_model().config_dir == config.models[0].config_dir);
}

TEST_CASE("model.config_dir: a string, for a single-file model.path only",
          "[config][environment]") {
  CHECK_THAT(problems_of(R"({ "model": { "config_dir": 3 } })"),
             StartsWith("model.config_dir: must be a string"));
  CHECK_THAT(problems_of(R"({ "model": { "path": "/m/sd15", "config_dir": "/m/configs" } })"),
             StartsWith("model.config_dir: applies to a single-file model.path (.safetensors)"));
  CHECK(problems_of(R"({ "model": { "path": "/m/sd15.safetensors", "config_dir": "/m/c" } })") ==
        "");
}

TEST_CASE("the schema accepts exactly model/'s scheduler names", "[config][environment]") {
  for (const char* name : muse::model::scheduler_names)
    CHECK(parse_config(std::string(R"({ "model": { "scheduler": ")") + name + "\" } }")
              .default_model()
              .scheduler == name);
  std::string listed;
  for (const char* name : muse::model::scheduler_names)
    listed += (listed.empty() ? "" : " | ") + std::string(name);
  CHECK_THAT(problems_of(R"({ "model": { "scheduler": "heun" } })"),
             StartsWith("model.scheduler: must be one of " + listed + ", got \"heun\""));
}

TEST_CASE("public_url is held without trailing slashes", "[config][environment]") {
  CHECK(parse_config(R"({ "gateway": { "public_url": "https://muse.example.org/" } })")
            .gateway.public_url == "https://muse.example.org");
  CHECK(parse_config(R"({ "gateway": { "public_url": "http://h:8080/muse//" } })")
            .gateway.public_url == "http://h:8080/muse");
  CHECK(parse_config("{}").gateway.public_url == "http://localhost:8080");
  CHECK_THAT(problems_of(R"({ "gateway": { "public_url": "https:///" } })"),
             StartsWith("gateway.public_url: must name a host, got \"https:///\""));
  CHECK_THAT(problems_of(R"({ "gateway": { "public_url": "http://" } })"),
             StartsWith("gateway.public_url: must name a host"));
}

TEST_CASE("a diffusers folder or a .safetensors file with its configs passes",
          "[config][environment]") {
  temp_folder dir;
  dir.write("sd/model_index.json", "{}");
  dir.write("single/sd.safetensors", "weights");
  dir.write("single/model_index.json", "{}");
  dir.write("apart/sd.safetensors", "weights");
  CHECK(environment_problems(with_model(dir.path() / "sd"), true, true) == "");
  CHECK(environment_problems(with_model(dir.path() / "single/sd.safetensors"), true, true) == "");
  CHECK(environment_problems(
            with_model(dir.path() / "apart/sd.safetensors", (dir.path() / "sd").string()), true,
            true) == "");
  CHECK(environment_problems(with_model(MUSE_SOURCE_DIR "/model/weights/muse-tiny"), true, true) ==
        "");
}

TEST_CASE("a model.path that holds no model fails, naming the key", "[config][environment]") {
  temp_folder dir;
  dir.write("empty/readme.txt", "not a model");
  dir.write("apart/sd.safetensors", "weights");
  dir.write("weights.bin", "weights");
  const std::string missing = (dir.path() / "nope").string();
  CHECK(environment_problems(with_model(missing), true, true) ==
        "model.path: no such folder or file: " + missing);
  CHECK_THAT(
      environment_problems(with_model(dir.path() / "empty"), true, true),
      StartsWith("model.path: " + (dir.path() / "empty").string() + " holds no model_index.json"));
  CHECK_THAT(environment_problems(with_model(dir.path() / "weights.bin"), true, true),
             StartsWith("model.path: neither a folder nor a .safetensors file"));
  CHECK_THAT(environment_problems(with_model(dir.path() / "gone.safetensors"), true, true),
             StartsWith("model.path: no such file"));
  // A single file whose configs are neither beside it nor named.
  CHECK_THAT(environment_problems(with_model(dir.path() / "apart/sd.safetensors"), true, true),
             StartsWith("model.path: the folder of") && Contains("model.config_dir"));
  CHECK_THAT(environment_problems(
                 with_model(dir.path() / "apart/sd.safetensors", (dir.path() / "empty").string()),
                 true, true),
             StartsWith("model.config_dir: " + (dir.path() / "empty").string() +
                        " holds no model_index.json"));
  CHECK_THAT(
      environment_problems(
          with_model(dir.path() / "apart/sd.safetensors", (dir.path() / "x").string()), true, true),
      StartsWith("model.config_dir: no such folder"));
}

TEST_CASE("the model's files matter only to a process that loads it", "[config][environment]") {
  deployment_config config = with_model("/nonexistent/model");
  CHECK(environment_problems(config, /*loads_model=*/false, true) == "");
  config.models[0].type = "benchmark_zero_compute";
  CHECK(environment_problems(config, true, true) == "");
}

TEST_CASE("an API-key variable that is unset or holds no key fails a process serving HTTP",
          "[config][environment]") {
  const char* name = "MUSE_CONFIG_TEST_KEYS";
  deployment_config config = with_model(MUSE_SOURCE_DIR "/model/weights/muse-tiny");
  config.auth.api_keys_env = name;
  ::unsetenv(name);
  CHECK(environment_problems(config, true, true) ==
        "auth.api_keys_env: names MUSE_CONFIG_TEST_KEYS, which is unset or holds no key");
  CHECK_THROWS_AS(api_keys_from_env(config.auth), config_error);
  CHECK(environment_problems(config, true, /*serves_http=*/false) == "");
  ::setenv(name, " , ", 1);
  CHECK_THAT(environment_problems(config, false, true), StartsWith("auth.api_keys_env: names"));
  ::setenv(name, " k1, k2 ,", 1);
  CHECK(environment_problems(config, false, true) == "");
  CHECK(api_keys_from_env(config.auth) == std::vector<std::string>{"k1", "k2"});
  ::unsetenv(name);
  config.auth.api_keys_env = "";
  CHECK(api_keys_from_env(config.auth).empty());
  CHECK(environment_problems(config, false, true) == "");
}

TEST_CASE("every problem of the machine is listed at once", "[config][environment]") {
  deployment_config config = with_model("/nonexistent/model");
  config.auth.api_keys_env = "MUSE_CONFIG_TEST_UNSET_KEYS";
  ::unsetenv("MUSE_CONFIG_TEST_UNSET_KEYS");
  std::string what = environment_problems(config, true, true);
  CHECK_THAT(what, StartsWith("model.path: no such folder or file"));
  CHECK_THAT(what, Contains("\nauth.api_keys_env: names MUSE_CONFIG_TEST_UNSET_KEYS"));
}
