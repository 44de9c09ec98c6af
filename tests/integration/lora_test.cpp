// LoRAs per request through the real stack: muse-node with the tiny test pipeline and a LoRA
// folder holding the parity tests' kohya and PEFT files (tests/data/reference/lora), requests that
// name them on the native route and in A1111's prompt syntax, batched with requests that do not,
// and the 400s of names the folder does not hold.

#include <catch2/catch.hpp>
#include <future>
#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/png_check.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::node_process;
using muse::testing::post;
using muse::testing::wait_ready;
using nlohmann::json;

namespace {

json lora_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "http_threads": 2, "max_body_bytes": 65536,
                "request_timeout_s": 60},
    "gpu_nodes": [{"name": "local", "devices": ["cpu"], "slots_per_device": 1}],
    "model": {"scheduler": "euler", "fast_steps": 4, "quality_steps": 4, "width": 32, "height": 32,
              "max_images_per_request": 2, "intra_op_threads": 1},
    "batching": {"max_batch_size": 4, "max_wait_ms": 200, "max_queue": 100, "step_level": true},
    "autoscale": {"min_workers": 1, "max_workers": 1}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["model"]["lora_dir"] = std::string(MUSE_TEST_DATA) + "/reference/lora";
  return config;
}

std::vector<unsigned char> pixels_of(const http_response& response) {
  INFO(response.status << " " << response.body.substr(0, 400));
  REQUIRE(response.status == 200);
  return muse::testing::decode_png(
             muse::testing::base64_decode(
                 json::parse(response.body)["images"][0]["png_base64"].get<std::string>()))
      .rgb;
}

int max_difference(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
  REQUIRE(a.size() == b.size());
  int most = 0;
  for (size_t i = 0; i < a.size(); ++i) most = std::max(most, std::abs(int(a[i]) - int(b[i])));
  return most;
}

}  // namespace

TEST_CASE("muse-node applies each request's LoRAs, batched with requests without",
          "[integration][lora]") {
  node_process node(lora_config());
  wait_ready(node);
  const json plain = {{"prompt", "a red fox"}, {"seed", 5}, {"guidance_scale", 7.5}};
  json with_kohya = plain;
  with_kohya["loras"] = {{{"name", "tiny-sd_kohya"}, {"scale", 0.7}}};
  json with_peft = plain;
  with_peft["loras"] = {{{"name", "tiny-sd_peft"}}};

  const auto alone_plain = pixels_of(post(node, "/api/v1/generate", plain));
  const auto alone_kohya = pixels_of(post(node, "/api/v1/generate", with_kohya));
  const auto alone_peft = pixels_of(post(node, "/api/v1/generate", with_peft));
  // The LoRAs change the picture.
  CHECK(max_difference(alone_plain, alone_kohya) > 8);
  CHECK(max_difference(alone_plain, alone_peft) > 8);

  // Sent together, they ride in the same batches; each gets the image it gets alone.
  auto a = std::async(std::launch::async, [&] { return post(node, "/api/v1/generate", plain); });
  auto b =
      std::async(std::launch::async, [&] { return post(node, "/api/v1/generate", with_kohya); });
  auto c =
      std::async(std::launch::async, [&] { return post(node, "/api/v1/generate", with_peft); });
  CHECK(max_difference(pixels_of(a.get()), alone_plain) <= 1);
  CHECK(max_difference(pixels_of(b.get()), alone_kohya) <= 1);
  CHECK(max_difference(pixels_of(c.get()), alone_peft) <= 1);

  // A1111's prompt syntax names the same LoRA at the same scale.
  const auto a1111 = http_request("POST", node.url("/sdapi/v1/txt2img"),
                                  json{{"prompt", "a red fox <lora:tiny-sd_kohya:0.7>"},
                                       {"seed", 5},
                                       {"steps", 4},
                                       {"sampler_name", "Euler"},
                                       {"cfg_scale", 7.5},
                                       {"width", 32},
                                       {"height", 32}}
                                      .dump());
  INFO(a1111.body.substr(0, 300));
  REQUIRE(a1111.status == 200);
  const auto a1111_pixels =
      muse::testing::decode_png(
          muse::testing::base64_decode(json::parse(a1111.body)["images"][0].get<std::string>()))
          .rgb;
  CHECK(max_difference(a1111_pixels, alone_kohya) <= 1);

  // A name the folder does not hold is the request's fault, named.
  json unknown = plain;
  unknown["loras"] = {{{"name", "no-such-lora"}}};
  const auto refused = post(node, "/api/v1/generate", unknown);
  CHECK(refused.status == 400);
  CHECK(refused.body.find("no-such-lora") != std::string::npos);
  CHECK(node.stop(SIGTERM, std::chrono::seconds(30)) == 0);
}
