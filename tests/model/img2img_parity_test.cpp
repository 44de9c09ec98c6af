// StableDiffusionImg2ImgPipeline (tiny-sd, tiny-sd2) and StableDiffusionXLImg2ImgPipeline
// (tiny-sdxl) parity over the cases of reference/<pipeline>_img2img.safetensors
// (tools/reference/build_img2img.py): every scheduler at strengths 0.5 and 1 (10 steps) and 0.3
// (7 steps), and a non-square case, from the init image stored with them. Each case is one image
// from its own seed, run as a client's request is: start -> step until finished -> decode; the
// stages on the way (the posterior, the noised latents, the timesteps) are checked too, so a
// failure names the first that differs.
//
// Bars: latents as every parity test (reference.hpp: check_close), the 8-bit image within one
// level (1/255) of diffusers' float image.
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "model/pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

std::string reference_path(const std::string& file) {
  return testing::data_dir() + "/reference/" + file;
}

// Missing data fails the test: a parity test that skips itself proves nothing.
nlohmann::json img2img_metadata() {
  const auto path = reference_path("img2img.json");
  std::ifstream in(path);
  INFO(path << " is missing: make it with tools/reference/generate.sh img2img "
               "(tools/reference/README.md)");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// The file must hold the matrix it claims: every scheduler at a partial strength and at 1.
void check_coverage(const nlohmann::json& cases) {
  for (const auto& scheduler : scheduler_factory::all_names()) {
    INFO("cases of scheduler " << scheduler);
    bool partial = false, full = false;
    for (const auto& c : cases) {
      if (c.at("scheduler") != scheduler) continue;
      partial |= c.at("strength").get<double>() < 1.0;
      full |= c.at("strength").get<double>() == 1.0;
    }
    CHECK(partial);
    CHECK(full);
  }
}

rgb_image stored_image(const weight_map& ref, const std::string& key) {
  const auto t = ref.get(key).contiguous();
  REQUIRE(t.dim() == 3);
  REQUIRE(t.scalar_type() == torch::kUInt8);
  rgb_image image;
  image.height = static_cast<int>(t.size(0));
  image.width = static_cast<int>(t.size(1));
  image.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
  return image;
}

void check_img2img(const std::string& name) {
  const auto meta = img2img_metadata();
  const auto& entry = meta.at("pipelines").at(name);
  const auto& cases = entry.at("cases");
  REQUIRE(!cases.empty());
  check_coverage(cases);
  const auto tensors = reference_path(name + "_img2img.safetensors");
  {
    INFO(tensors << " is missing: make it with tools/reference/generate.sh img2img");
    REQUIRE(std::ifstream(tensors).good());
  }
  const auto ref = weight_map::open(tensors);
  auto pipe = pipeline::load(testing::data_dir() + "/" + name, "cpu", "float32", "ddim");
  auto vae = load_vae(testing::data_dir() + "/" + name + "/vae", torch::kCPU, torch::kFloat32);
  for (const auto& c : cases) {
    const auto id = c.at("name").get<std::string>();
    INFO(name << " " << id);
    sample_request r;
    r.prompt = meta.at("prompt").get<std::string>();
    r.negative_prompt = c.at("negative_prompt").get<std::string>();
    r.guidance_scale = c.at("guidance_scale").get<float>();
    r.steps = c.at("steps").get<int>();
    r.seed = c.at("seed").get<uint64_t>();
    r.width = c.at("width").get<int>();
    r.height = c.at("height").get<int>();
    r.scheduler = c.at("scheduler").get<std::string>();
    r.strength = c.at("strength").get<double>();
    r.init_image = stored_image(ref, c.at("init_image").get<std::string>());
    REQUIRE(r.init_image.width == r.width);
    REQUIRE(r.init_image.height == r.height);

    // The cut: diffusers' get_timesteps, as the script recorded it.
    auto samples = pipe->start({r});
    auto& s = samples.front();
    CHECK(s.schedule->order() == c.at("scheduler_order").get<int>());
    CHECK(cut_by_strength(r.steps, r.strength).skipped_steps * s.schedule->order() ==
          c.at("begin_index").get<int>());
    CHECK(cut_by_strength(r.steps, r.strength).denoising_steps ==
          c.at("denoising_steps").get<int>());
    CHECK(s.schedule->num_steps() == c.at("schedule_length").get<int>());
    CHECK(s.schedule->begin_index() == c.at("begin_index").get<int>());
    const auto expected_t = ref.get(id + ".timesteps").to(torch::kFloat64);
    std::vector<double> ours(s.schedule->timesteps().begin() + s.schedule->begin_index(),
                             s.schedule->timesteps().end());
    REQUIRE(static_cast<int64_t>(ours.size()) == expected_t.size(0));
    CHECK((torch::tensor(ours, torch::kFloat64) - expected_t).abs().max().item<double>() <= 1e-3);

    // The first latents: the posterior, its sample (the generator's first draw), the noise (its
    // second) and add_noise at the first timestep.
    {
      torch::NoGradGuard no_grad;
      const auto& image = r.init_image;
      auto pixels = torch::tensor(std::vector<float>(image.pixels.begin(), image.pixels.end()))
                        .view({1, image.height, image.width, 3});
      const auto moments = vae->encode_moments((pixels / 255.0).permute({0, 3, 1, 2}) * 2.0 - 1.0);
      const auto mean = moments.narrow(1, 0, 4);
      const auto std = torch::exp(0.5 * moments.narrow(1, 4, 4).clamp(-30, 20));
      testing::check_close(mean, ref.get(id + ".posterior_mean"), "posterior mean");
      testing::check_close(std, ref.get(id + ".posterior_std"), "posterior std");
      auto draws = at::detail::createCPUGenerator(r.seed);
      const auto first = torch::randn(mean.sizes(), draws);
      const auto second = torch::randn(mean.sizes(), draws);
      testing::check_close(vae->scaling_factor() * (mean + std * first),
                           ref.get(id + ".init_latents"), "init latents");
      CHECK(torch::equal(second, ref.get(id + ".noise")));
    }
    testing::check_close(s.latents, ref.get(id + ".noised_latents"), "noised latents");
    while (!s.finished()) pipe->step({&s});
    testing::check_close(s.latents, ref.get(id + ".final_latents"), "final latents");
    testing::check_image(pipe->decode({&s}).front(), ref.get(id + ".image")[0], "image");
  }
}

}  // namespace

TEST_CASE("image-to-image parity with diffusers over schedulers and strengths (tiny-sd)",
          "[parity][pipeline][img2img]") {
  check_img2img("tiny-sd");
}

TEST_CASE("image-to-image parity with diffusers over schedulers and strengths (tiny-sd2)",
          "[parity][pipeline][img2img]") {
  check_img2img("tiny-sd2");
}

TEST_CASE("image-to-image parity with diffusers over schedulers and strengths (tiny-sdxl)",
          "[parity][pipeline][img2img][sdxl]") {
  check_img2img("tiny-sdxl");
}
