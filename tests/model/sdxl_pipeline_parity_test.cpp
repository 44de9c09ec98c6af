// StableDiffusionXLPipeline parity end to end on tests/data/tiny-sdxl, from the same seed: every
// scheduler with a negative prompt and without one (diffusers' negative_prompt=None: zeroed
// conditioning), a non-square size, SDXL's micro-conditioning (original size, crop) and no
// guidance. References: tiny-sdxl_pipeline.safetensors and sdxl.json, made by
// tools/reference/build_sdxl.py. The bar is the SD1/2 pipelines' (tests/support/reference.hpp).
#include <catch2/catch.hpp>

#include "model/pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

TEST_CASE("sdxl pipeline matches StableDiffusionXLPipeline end to end",
          "[parity][pipeline][sdxl]") {
  const auto ref = testing::reference("tiny-sdxl", "pipeline");
  auto pipe = pipeline::load(testing::data_dir() + "/tiny-sdxl", "cpu", "float32", "euler");
  CHECK(pipe->family() == architecture::sdxl);
  size_t cases = 0;
  for (const auto& [name, c] : testing::sdxl_metadata().at("cases").items()) {
    // An explicit "" negative prompt is encoded by diffusers, an absent one zeroed; a request
    // here has one string, and empty means absent (the no_negative cases).
    if (c.at("negative_prompt") == "") continue;
    INFO("case " << name);
    ++cases;
    auto samples = pipe->start({testing::sdxl_case_request(name)});
    auto& s = samples.front();
    testing::check_close(s.latents,
                         ref.get(name + ".init_latents") * s.schedule->init_noise_sigma(),
                         "initial latents");
    CHECK(s.uses_guidance() == c.at("classifier_free_guidance").get<bool>());
    const auto expected_t = ref.get(name + ".timesteps").to(torch::kFloat64);
    REQUIRE(s.schedule->num_steps() == expected_t.size(0));
    const bool per_step = ref.contains(name + ".step_latents");
    for (int64_t k = 0; !s.finished(); ++k) {
      INFO("step " << k);
      CHECK(std::abs(s.schedule->timestep() - expected_t[k].item<double>()) <= 1e-3);
      pipe->step({&s});
      if (per_step) testing::check_close(s.latents, ref.get(name + ".step_latents")[k], "latents");
    }
    testing::check_close(s.latents, ref.get(name + ".final_latents"), "final latents");
    testing::check_image(pipe->decode({&s}).front(), ref.get(name + ".image")[0], "image");
  }
  CHECK(cases == 2 * scheduler_factory::all_names().size() + 3);
}

TEST_CASE("sdxl samples of different sizes and micro-conditioning share a batch",
          "[pipeline][sdxl]") {
  const auto ref = testing::reference("tiny-sdxl", "pipeline");
  auto pipe = pipeline::load(testing::data_dir() + "/tiny-sdxl", "cpu", "float32", "euler");
  // Each image is the one it gives alone (diffusers' reference), whatever rides with it.
  const std::vector<std::string> names = {"euler.negative", "euler.no_negative", "euler.micro",
                                          "euler.no_guidance", "dpmpp_2m.negative"};
  std::vector<sample_request> requests;
  for (const auto& name : names) requests.push_back(testing::sdxl_case_request(name));
  auto samples = pipe->start(requests);
  std::vector<sample_state*> batch;
  for (auto& s : samples) batch.push_back(&s);
  while (std::any_of(samples.begin(), samples.end(), [](auto& s) { return !s.finished(); }))
    pipe->step(batch);
  const auto images = pipe->decode(batch);
  for (size_t i = 0; i < names.size(); ++i)
    testing::check_image(images[i], ref.get(names[i] + ".image")[0], names[i]);
}

TEST_CASE("sdxl refuses negative micro-conditioning", "[pipeline][sdxl]") {
  auto pipe = pipeline::load(testing::data_dir() + "/tiny-sdxl", "cpu", "float32", "euler");
  auto r = testing::sdxl_case_request("euler.micro");
  r.crop_left = -8;
  CHECK_THROWS_WITH(pipe->start({r}), Catch::Contains("crop"));
}

TEST_CASE("an SDXL single file gives StableDiffusionXLPipeline's images",
          "[parity][pipeline][sdxl][single_file]") {
  // tiny-sdxl as one SGM checkpoint (diffusers' conversion script), its configs from the folder.
  const auto ref = testing::reference("tiny-sdxl", "pipeline");
  auto pipe = pipeline::load(testing::data_dir() + "/tiny-sdxl-single.safetensors", "cpu",
                             "float32", "euler", testing::data_dir() + "/tiny-sdxl");
  CHECK(pipe->family() == architecture::sdxl);
  for (const std::string name : {"euler.negative", "dpmpp_2m.no_negative"}) {
    INFO(name);
    auto samples = pipe->start({testing::sdxl_case_request(name)});
    auto& s = samples.front();
    while (!s.finished()) pipe->step({&s});
    testing::check_close(s.latents, ref.get(name + ".final_latents"), "final latents");
    testing::check_image(pipe->decode({&s}).front(), ref.get(name + ".image")[0], "image");
  }
}
