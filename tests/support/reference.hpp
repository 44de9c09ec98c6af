#pragma once
// Access to the diffusers/transformers reference outputs in tests/data (see its README).

#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "model/formats/weights.hpp"
#include "model/generator.hpp"

namespace muse::model::testing {

inline std::string data_dir() { return MUSE_TEST_DATA_DIR; }

inline bool have_reference(const std::string& pipeline) {
  return std::ifstream(data_dir() + "/reference/" + pipeline + "_pipeline.safetensors").good() &&
         std::ifstream(data_dir() + "/" + pipeline + "/model_index.json").good();
}

inline weight_map reference(const std::string& pipeline, const std::string& part) {
  return weight_map::open(data_dir() + "/reference/" + pipeline + "_" + part + ".safetensors");
}

inline nlohmann::json metadata() {
  // Python's json writes -Infinity (DPM's lambda_min_clipped), which JSON proper lacks.
  std::ifstream in(data_dir() + "/reference/metadata.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::string token : {"-Infinity", "Infinity", "NaN"})
    for (auto at = text.find(token); at != std::string::npos; at = text.find(token, at))
      text.replace(at, token.size(), "null");
  return nlohmann::json::parse(text);
}

// The parity bar: max abs error <= 1e-4 x the reference's scale (its max abs, at least 1).
inline void check_close(const torch::Tensor& actual, const torch::Tensor& expected,
                        const std::string& what, double relative = 1e-4) {
  INFO(what);
  REQUIRE(actual.sizes() == expected.sizes());
  auto a = actual.detach().to(torch::kCPU, torch::kFloat64), e = expected.to(torch::kFloat64);
  const double scale = std::max(1.0, e.abs().max().item<double>());
  const double error = (a - e).abs().max().item<double>();
  INFO("max abs error " << error << ", scale " << scale);
  CHECK(error <= relative * scale);
}

// The components' bar (UNet, VAE): max abs error <= 1e-4 x the reference's own largest magnitude,
// with no floor of 1 (their outputs are O(1) or smaller, so the bar stays relative).
inline void check_close_at_output_scale(const torch::Tensor& got, const torch::Tensor& want,
                                        const std::string& what) {
  INFO(what);
  REQUIRE(got.sizes() == want.sizes());
  const double scale = want.abs().max().item<double>();
  const double error =
      (got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs().max().item<double>();
  INFO("max abs error " << error << " at output scale " << scale);
  CHECK(error <= 1e-4 * scale);
}

// The settings of the `_pipeline` end-to-end references (metadata.json), for `scheduler`.
inline sample_request pipeline_reference_request(const std::string& pipeline,
                                                 const std::string& scheduler) {
  static const auto all = metadata();
  const auto& m = all.at("pipelines").at(pipeline).at("pipeline");
  sample_request r;
  r.prompt = m.at("prompt").get<std::string>();
  r.negative_prompt = m.at("negative_prompt").get<std::string>();
  r.guidance_scale = m.at("guidance_scale").get<float>();
  r.steps = m.at("num_inference_steps").get<int>();
  r.seed = m.at("seed").get<uint64_t>();
  r.width = m.at("width").get<int>();
  r.height = m.at("height").get<int>();
  r.scheduler = scheduler;
  return r;
}

// StableDiffusionXLPipeline's end-to-end settings on tiny-sdxl (reference/sdxl.json "pipeline").
inline const nlohmann::json& sdxl_metadata() {
  static const auto all = [] {
    std::ifstream in(data_dir() + "/reference/sdxl.json");
    return nlohmann::json::parse(in);
  }();
  return all.at("pipeline");
}

// The request of the sdxl.json case `name` (e.g. "euler.micro"); a null negative prompt is empty.
inline sample_request sdxl_case_request(const std::string& name) {
  const auto& m = sdxl_metadata();
  const auto& c = m.at("cases").at(name);
  sample_request r;
  r.prompt = m.at("prompt").get<std::string>();
  r.negative_prompt = c.at("negative_prompt").is_null() ? "" : c.at("negative_prompt");
  r.guidance_scale = c.value("guidance_scale", m.at("guidance_scale").get<float>());
  r.steps = m.at("num_inference_steps").get<int>();
  r.seed = m.at("seed").get<uint64_t>();
  r.height = c.value("height", m.at("height").get<int>());
  r.width = c.value("width", m.at("width").get<int>());
  r.scheduler = c.at("scheduler").get<std::string>();
  if (c.contains("original_size")) {
    r.original_height = c.at("original_size")[0];
    r.original_width = c.at("original_size")[1];
  }
  if (c.contains("crops_coords_top_left")) {
    r.crop_top = c.at("crops_coords_top_left")[0];
    r.crop_left = c.at("crops_coords_top_left")[1];
  }
  return r;
}

// The reference image is diffusers' float output (H, W, 3) in [0, 1]; ours is its
// (x * 255).round() as uint8. One level of difference is allowed: a float a rounding error away
// from k + 0.5 rounds to either side.
inline void check_image(const rgb_image& image, const torch::Tensor& expected,
                        const std::string& what) {
  INFO(what);
  REQUIRE(image.height == expected.size(0));
  REQUIRE(image.width == expected.size(1));
  auto ours = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                               {image.height, image.width, 3}, torch::kUInt8)
                  .to(torch::kFloat64);
  auto theirs = (expected.to(torch::kFloat64) * 255).round();
  const double error = (ours - theirs).abs().max().item<double>();
  INFO("max pixel difference " << error << "/255");
  CHECK(error <= 1.0);
}

}  // namespace muse::model::testing
