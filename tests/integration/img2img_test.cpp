// Image to image through the real stack: muse-node with the tiny test pipeline, an init image
// sent as base64 PNG to /api/v1/generate and /api/v1/jobs, and the 400s of bad ones; uploads
// (multipart, a JPEG and a PNG) to /api/v1/generate and OpenAI's edits and variations.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/jpeg_builder.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/png_builder.hpp"
#include "tests/support/png_check.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::node_process;
using muse::testing::post;
using muse::testing::wait_ready;
using nlohmann::json;

namespace {

json img2img_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "http_threads": 2, "max_body_bytes": 65536,
                "request_timeout_s": 60, "max_init_image_bytes": 20000},
    "gpu_nodes": [{"name": "local", "devices": ["cpu"], "slots_per_device": 1}],
    "model": {"scheduler": "ddim", "fast_steps": 6, "quality_steps": 6, "width": 32, "height": 32,
              "max_images_per_request": 2, "intra_op_threads": 1},
    "batching": {"max_batch_size": 4, "max_wait_ms": 50, "max_queue": 100, "step_level": true},
    "autoscale": {"min_workers": 1, "max_workers": 1}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  return config;
}

std::string png_of(const http_response& response) {
  INFO(response.status << " " << response.body.substr(0, 400));
  REQUIRE(response.status == 200);
  return muse::testing::base64_decode(
      json::parse(response.body)["images"][0]["png_base64"].get<std::string>());
}

// The error of a 400: "field: message".
std::string rejection(const http_response& response) {
  INFO(response.body);
  REQUIRE(response.status == 400);
  const auto error = json::parse(response.body)["error"];
  CHECK(error["code"] == "invalid_request");
  return error.value("field", "") + ": " + error["message"].get<std::string>();
}

}  // namespace

TEST_CASE("muse-node turns an init image into an image", "[integration][img2img]") {
  node_process node(img2img_config());
  wait_ready(node);
  // A start image: the model's own text-to-image picture, as a PNG a client would send.
  const auto start = png_of(
      post(node, "/api/v1/generate", {{"prompt", "a red circle"}, {"seed", 5}, {"steps", 4}}));
  const auto init_image = muse::testing::base64_encode(start);
  const json request = {{"prompt", "a blue square"},
                        {"init_image", init_image},
                        {"strength", 0.5},
                        {"seed", 9},
                        {"steps", 6}};

  SECTION("generate: an image of the init image's size, the same from the same seed") {
    const auto response = post(node, "/api/v1/generate", request);
    const auto first = png_of(response);
    CHECK(json::parse(response.body)["steps"] == 6);
    const auto image = muse::testing::decode_png(first);
    CHECK(image.width == 32);
    CHECK(image.height == 32);
    const auto again = png_of(post(node, "/api/v1/generate", request));
    CHECK(muse::testing::decode_png(again).rgb == image.rgb);
    // The picture started from the image: without it the same seed gives another one.
    json text = request;
    text.erase("init_image");
    text.erase("strength");
    CHECK(muse::testing::decode_png(png_of(post(node, "/api/v1/generate", text))).rgb != image.rgb);
  }

  SECTION("jobs: an async job takes an init image; its progress counts the steps that run") {
    auto created = post(node, "/api/v1/jobs", request);
    INFO(created.body);
    REQUIRE(created.status == 202);
    const auto id = json::parse(created.body)["id"].get<std::string>();
    CHECK(json::parse(created.body)["progress"]["total"] == 3);  // int(6 x 0.5)
    json job;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      job = json::parse(http_request("GET", node.url("/api/v1/jobs/" + id)).body);
      if (job["status"] != "queued" && job["status"] != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    INFO(job.dump().substr(0, 400));
    REQUIRE(job["status"] == "done");
    CHECK(job["progress"]["step"] == 3);
    CHECK(job["progress"]["total"] == 3);
    const auto png =
        muse::testing::base64_decode(job["images"][0]["png_base64"].get<std::string>());
    CHECK(muse::testing::decode_png(png).rgb ==
          muse::testing::decode_png(png_of(post(node, "/api/v1/generate", request))).rgb);
  }

  SECTION("bad init images and strengths are 400s") {
    auto with = [&](const json& change) {
      json body = request;
      body.update(change);
      return rejection(post(node, "/api/v1/generate", body));
    };
    using Catch::Contains;
    CHECK_THAT(with({{"strength", 0}}), Contains("strength: strength must be in (0, 1]"));
    CHECK_THAT(with({{"strength", 1.5}}), Contains("strength: strength must be in (0, 1]"));
    CHECK_THAT(with({{"init_image", "aGVsbG8gd29ybGQ="}}),
               Contains("init_image: init_image: not a PNG"));
    CHECK_THAT(with({{"init_image", "%%%"}}), Contains("init_image must be a base64 PNG"));
    CHECK_THAT(with({{"width", 64}}), Contains("width: init_image is 32x32"));
    // tiny-sd takes multiples of 4 (VAE factor 2 x one UNet downsampling).
    std::vector<uint8_t> odd(30 * 30 * 3, 128);
    CHECK_THAT(with({{"init_image",
                      muse::testing::base64_encode(muse::testing::make_rgb_png(30, 30, odd))}}),
               Contains("init_image: init_image is 30x30; this model takes width and height in") &&
                   Contains("multiples of 4"));
    // 43 KB of pseudo-random bytes (a fixed seed): no deflate brings them under the limit.
    std::mt19937 random(12345);
    std::vector<uint8_t> noise(120 * 120 * 3);
    for (auto& value : noise) value = static_cast<uint8_t>(random() >> 24);
    CHECK_THAT(with({{"init_image",
                      muse::testing::base64_encode(muse::testing::make_rgb_png(120, 120, noise))}}),
               Contains("at most 20000 bytes (gateway.max_init_image_bytes)"));
    json job = request;
    job["strength"] = -1;
    CHECK_THAT(rejection(post(node, "/api/v1/jobs", job)), Contains("strength: strength must be"));
  }
}

TEST_CASE("muse-node takes uploaded JPEGs and PNGs, natively and as OpenAI's edits and variations",
          "[integration][img2img][upload]") {
  node_process node(img2img_config());
  wait_ready(node);
  // The model's own picture, as a PNG and as a JPEG made from its pixels.
  const auto png = png_of(
      post(node, "/api/v1/generate", {{"prompt", "a red circle"}, {"seed", 5}, {"steps", 4}}));
  muse::testing::jpeg_spec spec;
  spec.width = 32;
  spec.height = 32;
  const auto pixels = muse::testing::decode_png(png).rgb;
  spec.samples.assign(pixels.begin(), pixels.end());
  const auto jpeg = muse::testing::make_jpeg(spec);
  auto upload = [&](const std::string& path, const std::vector<muse::testing::form_field>& form) {
    return http_request("POST", node.url(path), "", {}, 60, &form);
  };

  // A multipart JPEG upload gives what the same JPEG in base64 JSON gives.
  const auto uploaded =
      png_of(upload("/api/v1/generate", {{"prompt", "a blue square"},
                                         {"seed", "9"},
                                         {"steps", "6"},
                                         {"strength", "0.5"},
                                         {"init_image", jpeg, "in.jpg", "image/jpeg"}}));
  const auto from_json = png_of(post(node, "/api/v1/generate",
                                     {{"prompt", "a blue square"},
                                      {"seed", 9},
                                      {"steps", 6},
                                      {"strength", 0.5},
                                      {"init_image", muse::testing::base64_encode(jpeg)}}));
  CHECK(muse::testing::decode_png(uploaded).rgb == muse::testing::decode_png(from_json).rgb);
  CHECK(muse::testing::decode_png(uploaded).width == 32);

  // OpenAI's edits (a PNG and a prompt) and variations (a JPEG, two images).
  auto openai_images = [](const http_response& response) {
    INFO(response.status << " " << response.body.substr(0, 400));
    REQUIRE(response.status == 200);
    std::vector<muse::testing::decoded_png> images;
    const json body = json::parse(response.body);
    for (const auto& item : body["data"])
      images.push_back(muse::testing::decode_png(
          muse::testing::base64_decode(item["b64_json"].get<std::string>())));
    return images;
  };
  const auto edited =
      openai_images(upload("/v1/images/edits", {{"image", png, "start.png", "image/png"},
                                                {"prompt", "a blue square"},
                                                {"size", "32x32"},
                                                {"response_format", "b64_json"}}));
  REQUIRE(edited.size() == 1);
  CHECK(edited[0].width == 32);
  CHECK(edited[0].rgb != pixels);
  const auto varied = openai_images(upload(
      "/v1/images/variations",
      {{"image[]", jpeg, "start.jpg", "image/jpeg"}, {"n", "2"}, {"response_format", "b64_json"}}));
  REQUIRE(varied.size() == 2);
  CHECK(varied[0].height == 32);
  CHECK(varied[0].rgb != varied[1].rgb);  // seed and seed + 1

  // A mask is refused: there is no inpainting.
  const auto masked = upload(
      "/v1/images/edits",
      {{"image", png, "a.png", "image/png"}, {"mask", png, "m.png", "image/png"}, {"prompt", "p"}});
  CHECK(masked.status == 400);
  CHECK(json::parse(masked.body)["error"]["param"] == "mask");
}
