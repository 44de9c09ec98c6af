// muse-node under a small model.memory_budget_mb: a picture too large for it is refused with 400
// naming the limit before any work, one that fits is served, and the advertised limits fit.

#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/png_check.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::node_process;
using muse::testing::post;
using muse::testing::stats_of;
using muse::testing::wait_ready;
using nlohmann::json;

namespace {

// The tiny pipeline's 32x32 needs a few MB by the estimate, 256x256 hundreds.
constexpr int budget_mb = 32;

json budget_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "http_threads": 2, "max_body_bytes": 4096,
                "request_timeout_s": 30},
    "gpu_nodes": [{"name": "local", "devices": ["cpu"], "slots_per_device": 1}],
    "model": {"scheduler": "ddim", "fast_steps": 2, "width": 32, "height": 32, "intra_op_threads": 1},
    "batching": {"max_batch_size": 4, "max_wait_ms": 10, "max_queue": 100},
    "autoscale": {"min_workers": 1, "max_workers": 1}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["model"]["memory_budget_mb"] = budget_mb;
  return config;
}

json error_of(const http_response& response) {
  INFO(response.body);
  REQUIRE(response.status == 400);
  return json::parse(response.body)["error"];
}

}  // namespace

TEST_CASE("a memory budget refuses what does not fit and serves what does",
          "[integration][memory]") {
  node_process node(budget_config());
  wait_ready(node);
  const json limits = stats_of(node)["model"]["limits"];
  INFO(limits.dump());
  CHECK(limits["memory_budget_mb"] == budget_mb);
  const int64_t max_pixels = limits["max_pixels"].get<int64_t>();
  CHECK(max_pixels >= 32 * 32);
  CHECK(max_pixels < 256 * 256);
  // The longest advertised side fits beside the shortest.
  CHECK(limits["max_size"].get<int64_t>() * limits["min_size"].get<int64_t>() <= max_pixels);

  auto too_large = error_of(post(node, "/api/v1/generate",
                                 {{"prompt", "x"}, {"width", 256}, {"height", 256}, {"steps", 1}}));
  CHECK(too_large["code"] == "invalid_request");
  CHECK(too_large["field"] == "width");
  const std::string message = too_large["message"];
  CHECK(message.find("256x256") != std::string::npos);
  CHECK(message.find(std::to_string(max_pixels) + " pixels") != std::string::npos);
  CHECK(message.find("memory budget of " + std::to_string(budget_mb) + " MB") != std::string::npos);
  CHECK(message.find("largest square that fits") != std::string::npos);
  CHECK(error_of(post(node, "/api/v1/generate", {{"prompt", "x"}, {"height", 1024}}))["field"] ==
        "height");
  auto openai = http_request("POST", node.url("/v1/images/generations"),
                             json{{"prompt", "x"}, {"size", "256x256"}}.dump());
  CHECK(openai.status == 400);

  auto served = post(node, "/api/v1/generate",
                     {{"prompt", "x"}, {"width", 32}, {"height", 32}, {"steps", 1}, {"n", 2}});
  INFO(served.body.substr(0, 300));
  REQUIRE(served.status == 200);
  const json body = json::parse(served.body);
  REQUIRE(body["images"].size() == 2);
  auto png = muse::testing::decode_png(
      muse::testing::base64_decode(body["images"][0]["png_base64"].get<std::string>()));
  CHECK(png.width == 32);
  CHECK(png.height == 32);
  CHECK(node.stop(SIGTERM, std::chrono::seconds(30)) == 0);
}
