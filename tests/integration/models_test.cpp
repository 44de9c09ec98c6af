// The real muse-node serving two models (the tiny test pipeline under two names), over HTTP.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/png_check.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::node_process;
using muse::testing::post;
using muse::testing::stats_of;
using nlohmann::json;

namespace {

const std::string tiny_model = std::string(MUSE_TEST_DATA) + "/tiny-sd";

// "small" is kept loaded; "large" has no worker until asked (min_workers 0).
json two_models_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "http_threads": 2, "max_body_bytes": 4096,
                "request_timeout_s": 60, "max_prompt_chars": 200},
    "gpu_nodes": [{"name": "local", "devices": ["cpu", "cpu"], "slots_per_device": 1}],
    "models": [
      {"name": "small", "scheduler": "ddim", "fast_steps": 2, "quality_steps": 4, "width": 32,
       "height": 32, "intra_op_threads": 1, "min_workers": 1, "max_workers": 1},
      {"name": "large", "scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32,
       "height": 32, "intra_op_threads": 1, "min_workers": 0, "max_workers": 1}
    ],
    "batching": {"max_batch_size": 4, "max_wait_ms": 50, "max_queue": 100, "step_level": true},
    "autoscale": {"interval_s": 1, "scale_up_check_s": 1, "max_workers": 2}
  })");
  config["models"][0]["path"] = tiny_model;
  config["models"][1]["path"] = tiny_model;
  return config;
}

json body_of(const http_response& response) {
  INFO(response.body.substr(0, 500));
  auto parsed = json::parse(response.body, nullptr, false);
  REQUIRE_FALSE(parsed.is_discarded());
  return parsed;
}

const json* model_in(const json& stats, const std::string& name) {
  if (!stats.contains("models")) return nullptr;
  for (const auto& m : stats["models"])
    if (m["name"] == name) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("muse-node serves two models, each by its name, one started on demand",
          "[integration][models]") {
  node_process node(two_models_config());
  muse::testing::wait_ready(node);
  REQUIRE(muse::testing::eventually([&] {
    auto stats = stats_of(node);
    auto* small = model_in(stats, "small");
    return small && (*small)["ready_workers"] == 1;
  }));
  {
    auto stats = stats_of(node);
    INFO(stats.dump());
    REQUIRE(stats["workers"]["list"].size() == 1);
    CHECK(stats["workers"]["list"][0]["model"] == "small");
  }

  auto listed = body_of(http_request("GET", node.url("/v1/models")));
  REQUIRE(listed["data"].size() == 2);
  CHECK(listed["data"][0]["id"] == "small");
  CHECK(listed["data"][1]["id"] == "large");
  auto ours = body_of(http_request("GET", node.url("/api/v1/models")));
  CHECK(ours["default"] == "small");
  CHECK(ours["models"][0]["limits"].is_object());
  CHECK(ours["models"][1]["ready"] == false);

  // The default model, then the one with no worker: its first request waits for the load.
  auto small = post(node, "/api/v1/generate", {{"prompt", "a red circle"}, {"seed", 7}});
  REQUIRE(small.status == 200);
  CHECK(body_of(small)["steps"] == 2);
  auto large =
      post(node, "/api/v1/generate", {{"prompt", "a red circle"}, {"seed", 7}, {"model", "large"}});
  INFO(node.log());
  REQUIRE(large.status == 200);
  CHECK(body_of(large)["steps"] == 3);
  // The same pipeline under both names: the same prompt, seed and steps give the same picture
  // (the PNGs' parameters differ: each names its model).
  auto small_again =
      post(node, "/api/v1/generate",
           {{"prompt", "a red circle"}, {"seed", 7}, {"steps", 3}, {"model", "small"}});
  REQUIRE(small_again.status == 200);
  auto png_of = [&](const http_response& response) {
    return muse::testing::base64_decode(body_of(response)["images"][0]["png_base64"]);
  };
  CHECK(muse::testing::decode_png(png_of(small_again)).rgb ==
        muse::testing::decode_png(png_of(large)).rgb);
  CHECK(muse::testing::png_texts(png_of(large))["parameters"].find("Model: large") !=
        std::string::npos);

  auto unknown = post(node, "/api/v1/generate", {{"prompt", "a red circle"}, {"model", "huge"}});
  CHECK(unknown.status == 400);
  CHECK(body_of(unknown)["error"]["field"] == "model");

  auto stats = stats_of(node);
  INFO(stats.dump());
  auto* small_figures = model_in(stats, "small");
  auto* large_figures = model_in(stats, "large");
  REQUIRE(small_figures);
  REQUIRE(large_figures);
  CHECK((*small_figures)["orders"]["completed"] == 2);
  CHECK((*large_figures)["orders"]["completed"] == 1);
  CHECK((*large_figures)["limits"].is_object());

  auto metrics = http_request("GET", node.url("/metrics"));
  CHECK(metrics.body.find("muse_model_workers_ready{model=\"large\"}") != std::string::npos);
  CHECK(metrics.body.find("muse_model_orders_completed_total{model=\"small\"} 2") !=
        std::string::npos);
}
