// Several models behind one deployment: the `models` list, and the single `model` section read as
// a list of one.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using muse::config::testing::problems_of;

TEST_CASE("the single model section is a list of one, named from its path", "[config][models]") {
  auto config =
      parse_config(R"({ "model": { "path": "/opt/sd15.safetensors", "fast_steps": 9 } })");
  REQUIRE(config.models.size() == 1);
  CHECK(config.default_model().name == "sd15");
  CHECK(config.default_model().fast_steps == 9);
  CHECK(config.find_model("sd15") == &config.models[0]);
  CHECK(config.find_model("other") == nullptr);

  CHECK(parse_config("{}").default_model().name == "muse-tiny");
  CHECK(parse_config(R"({ "model": { "path": "weights/sd21/" } })").default_model().name == "sd21");
  CHECK(parse_config(R"({ "model": { "type": "benchmark_zero_compute" } })").default_model().name ==
        "zero-compute");
  CHECK(parse_config(R"({ "model": { "name": "house" } })").default_model().name == "house");
}

TEST_CASE("the single model's worker bounds default to autoscale's", "[config][models]") {
  auto config = parse_config(R"({ "gpu_nodes": [ { "name": "a", "slots_per_device": 2 } ],
                                  "autoscale": { "min_workers": 2, "max_workers": 5 } })");
  CHECK(config.default_model().min_workers == 2);
  CHECK(config.default_model().max_workers == 5);
}

TEST_CASE("a models list reads each entry as the model section", "[config][models]") {
  auto config = parse_config(R"({
    "gpu_nodes": [ { "name": "a", "devices": ["cpu"], "slots_per_device": 4 } ],
    "models": [
      { "name": "fast", "path": "/m/tiny", "fast_steps": 4, "min_workers": 0, "max_workers": 2 },
      { "path": "/m/sd15", "scheduler": "euler", "width": 512, "height": 512 }
    ] })");
  REQUIRE(config.models.size() == 2);
  CHECK(config.default_model().name == "fast");
  CHECK(config.models[0].fast_steps == 4);
  CHECK(config.models[0].min_workers == 0);
  CHECK(config.models[0].max_workers == 2);
  CHECK(config.models[1].name == "sd15");
  CHECK(config.models[1].scheduler == "euler");
  CHECK(config.models[1].width == 512);
  CHECK(config.models[1].min_workers == 1);  // autoscale's defaults
  CHECK(config.models[1].max_workers == 8);
  CHECK(config.model_names() == std::vector<std::string>{"fast", "sd15"});
}

TEST_CASE("the effective config round-trips both forms", "[config][models]") {
  auto one = parse_config(R"({ "model": { "name": "a", "path": "/m/a" } })");
  auto one_json = to_json(one);
  CHECK(one_json.contains("model"));
  CHECK_FALSE(one_json.contains("models"));
  CHECK(one_json["model"]["name"] == "a");
  CHECK(to_json(parse_config(one_json.dump())) == one_json);

  auto two = parse_config(R"({ "models": [ { "name": "a", "path": "/m/a" },
                                            { "name": "b", "path": "/m/b", "min_workers": 0 } ] })");
  auto two_json = to_json(two);
  REQUIRE(two_json["models"].size() == 2);
  CHECK_FALSE(two_json.contains("model"));
  CHECK(two_json["models"][1]["min_workers"] == 0);
  CHECK(to_json(parse_config(two_json.dump())) == two_json);
}

TEST_CASE("models list errors name the entry and the key", "[config][models][errors]") {
  CHECK_THAT(problems_of(R"({ "model": {}, "models": [ {} ] })"),
             Contains("models: give either `model` (one model) or `models` (a list), not both"));
  CHECK_THAT(problems_of(R"({ "models": [] })"), Contains("models: must list at least one model"));
  CHECK_THAT(problems_of(R"({ "models": [ 3 ] })"), Contains("models[0]: must be an object"));
  CHECK_THAT(problems_of(R"({ "models": [ { "name": "a" }, { "name": "a", "path": "x" } ] })"),
             Contains("models[1].name: \"a\" names another model too"));
  // Two entries named from the same folder name clash as well.
  CHECK_THAT(problems_of(R"({ "models": [ { "path": "/x/m" }, { "path": "/y/m" } ] })"),
             Contains("models[1].name: \"m\" names another model too"));
  CHECK_THAT(problems_of(R"({ "models": [ { "name": "a b" } ] })"),
             Contains("models[0].name: may hold only letters"));
  CHECK_THAT(problems_of(R"({ "models": [ { "name": "a", "fast_stepz": 3 } ] })"),
             Contains("models[0].fast_stepz: unknown key; did you mean \"fast_steps\"?"));
  CHECK_THAT(problems_of(R"({ "models": [ { "name": "a", "max_wait_ms": 3 } ] })"),
             Contains("models[0].max_wait_ms: unknown key here; did you mean "
                      "\"batching.max_wait_ms\"?"));
  CHECK_THAT(problems_of(R"({ "modles": [ { "name": "a" } ] })"),
             Contains("modles: unknown key; did you mean \"models\"?"));
  CHECK_THAT(
      problems_of(R"({ "models": [ { "name": "a", "min_workers": 3, "max_workers": 2 } ] })"),
      Contains("models[0].min_workers: must not exceed max_workers (3 > 2)"));
  CHECK_THAT(problems_of(R"({ "models": [ { "name": "a", "width": 100 } ] })"),
             Contains("models[0].width: must be a multiple of 8"));
}

TEST_CASE("the models' min_workers together must fit the slots", "[config][models][errors]") {
  CHECK_THAT(problems_of(R"({ "models": [ { "name": "a" }, { "name": "b" } ] })"),
             Contains("models: 2 workers (min_workers, summed over the models) need more slots"));
  CHECK(problems_of(R"({ "models": [ { "name": "a" }, { "name": "b", "min_workers": 0 } ] })") ==
        "");
}

TEST_CASE("the shipped two-models.json parses: two models, one scaled to zero", "[config][files]") {
  auto config = load_config_file(MUSE_SOURCE_DIR "/cluster_config/two-models.json");
  REQUIRE(config.models.size() == 2);
  CHECK(config.models[0].name == "muse-tiny");
  CHECK(config.models[0].min_workers == 1);
  CHECK(config.models[1].name == "tiny-sd");
  CHECK(config.models[1].min_workers == 0);
  CHECK(config.models[1].path.find("tests/data/tiny-sd") != std::string::npos);
  CHECK_NOTHROW(check_environment(config, process_needs{true, false}));
}
