// Image to image without the diffusers references: the strength's timestep cut per scheduler,
// add_noise against the noise schedule computed here, the generator's draws in diffusers' order,
// and an image-to-image sample in a running batch beside text-to-image samples (tiny-sd).
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "model/generator.hpp"
#include "model/pipeline.hpp"
#include "model/sampling/scheduler.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

// Stable Diffusion 1.5's scheduler_config.json (tiny-sd's).
const nlohmann::json sd15 = {{"_class_name", "PNDMScheduler"},   {"beta_end", 0.012},
                             {"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085},
                             {"num_train_timesteps", 1000},      {"set_alpha_to_one", false},
                             {"skip_prk_steps", true},           {"steps_offset", 1},
                             {"trained_betas", nullptr},         {"clip_sample", false}};

// The SD1.5 training schedule in double precision.
double alpha_cumprod(int t) {
  double prod = 1;
  for (int i = 0; i <= t; ++i) {
    const double root = std::sqrt(0.00085) + (std::sqrt(0.012) - std::sqrt(0.00085)) * i / 999.0;
    prod *= 1 - root * root;
  }
  return prod;
}

double sigma_at(int t) { return std::sqrt((1 - alpha_cumprod(t)) / alpha_cumprod(t)); }

std::unique_ptr<scheduler> cut_schedule(const std::string& name, int steps, double strength) {
  auto s = scheduler_factory::create(name, scheduler_factory::effective_config(sd15, name), steps);
  s->begin_at(cut_by_strength(steps, strength).skipped_steps * s->order());
  return s;
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

rgb_image test_image(int width, int height, int phase) {
  rgb_image image;
  image.width = width;
  image.height = height;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixels.push_back(uint8_t((x * 8 + y * 5 + c * 80 + phase * 37) % 256));
  return image;
}

sample_request image_request(uint64_t seed, int steps, double strength) {
  sample_request r;
  r.prompt = "a fox in the snow";
  r.negative_prompt = "blurry";
  r.steps = steps;
  r.seed = seed;
  r.width = 32;
  r.height = 32;
  r.scheduler = "ddim";
  r.init_image = test_image(32, 32, 0);
  r.strength = strength;
  return r;
}

std::shared_ptr<pipeline> tiny_sd() {
  static auto loaded = pipeline::load(testing::data_dir() + "/tiny-sd", "cpu", "float32", "ddim");
  return loaded;
}

}  // namespace

TEST_CASE("strength cuts the schedule as diffusers' get_timesteps", "[img2img]") {
  auto cut = cut_by_strength(10, 0.5);
  CHECK(cut.skipped_steps == 5);
  CHECK(cut.denoising_steps == 5);
  cut = cut_by_strength(10, 1.0);
  CHECK(cut.skipped_steps == 0);
  CHECK(cut.denoising_steps == 10);
  // int(7 * 0.3) = int(2.0999999999999996) = 2; int(10 * 0.7) = 7 (0.7 x 10 rounds to 7.0).
  cut = cut_by_strength(7, 0.3);
  CHECK(cut.skipped_steps == 5);
  CHECK(cut.denoising_steps == 2);
  CHECK(cut_by_strength(10, 0.7).denoising_steps == 7);
  CHECK(cut_by_strength(25, 0.8).denoising_steps == 20);
  CHECK(cut_by_strength(3, 0.34).denoising_steps == 1);
  for (double bad : {0.0, -0.1, 1.01, std::nan(""), std::numeric_limits<double>::infinity()})
    CHECK_THROWS_AS(cut_by_strength(10, bad), model_error);
  // Strength that leaves no step (diffusers would start from an empty schedule).
  CHECK_THROWS_WITH(cut_by_strength(3, 0.3), Catch::Contains("at least 1"));
  CHECK(image_to_image_steps(3, 0.3) == 3);
}

TEST_CASE("every scheduler starts at the cut and makes the calls diffusers makes", "[img2img]") {
  for (const auto& name : scheduler_factory::all_names()) {
    INFO(name);
    auto full =
        scheduler_factory::create(name, scheduler_factory::effective_config(sd15, name), 10);
    CHECK(full->order() == 1);
    // Strength 1 runs the whole text-to-image schedule.
    auto whole = cut_schedule(name, 10, 1.0);
    CHECK(whole->begin_index() == 0);
    CHECK(whole->num_steps() - whole->begin_index() == full->num_steps());
    // PNDM's schedule holds one repeated timestep: it makes one call more than the steps left.
    const int extra = name == "pndm" ? 1 : 0;
    auto half = cut_schedule(name, 10, 0.5);
    CHECK(half->begin_index() == 5);
    CHECK(half->step_index() == 5);
    CHECK(half->timestep() == full->timesteps()[5]);
    CHECK(half->num_steps() - half->begin_index() == 5 + extra);
    auto little = cut_schedule(name, 7, 0.3);
    CHECK(little->num_steps() - little->begin_index() == 2 + extra);
    // The cut runs to the end of the schedule, one step at a time.
    int calls = 0;
    auto sample = torch::ones({1, 4, 2, 2});
    auto generator = at::detail::createCPUGenerator(1);
    while (!half->finished()) {
      sample = half->step(sample * 0.1, sample, &generator);
      ++calls;
    }
    CHECK(calls == 5 + extra);
    CHECK(torch::isfinite(sample).all().item<bool>());
    CHECK_THROWS_AS(half->begin_at(0), model_error);
    auto fresh =
        scheduler_factory::create(name, scheduler_factory::effective_config(sd15, name), 10);
    CHECK_THROWS_AS(fresh->begin_at(fresh->num_steps()), model_error);
  }
}

TEST_CASE("add_noise mixes in noise to the first timestep's level", "[img2img]") {
  const auto x0 = torch::randn({1, 4, 3, 3}, at::detail::createCPUGenerator(5));
  const auto noise = torch::randn({1, 4, 3, 3}, at::detail::createCPUGenerator(6));
  // sqrt(a) x0 + sqrt(1 - a) noise at training timestep t.
  auto ddpm = [&](int t) {
    return std::sqrt(alpha_cumprod(t)) * x0 + std::sqrt(1 - alpha_cumprod(t)) * noise;
  };
  // Leading spacing with steps_offset 1 (SD1.5): 10 steps are 901, 801, ..., 1; DDIM starts
  // strength 0.5 at 401, PNDM (whose list repeats 801) at 501.
  CHECK(max_difference(cut_schedule("ddim", 10, 0.5)->add_noise(x0, noise), ddpm(401)) < 1e-5);
  CHECK(max_difference(cut_schedule("pndm", 10, 0.5)->add_noise(x0, noise), ddpm(501)) < 1e-5);
  // Euler's: x0 + sigma noise with sigma = sqrt((1 - a) / a), no input scaling.
  for (const char* name : {"euler", "euler_ancestral"}) {
    INFO(name);
    auto s = cut_schedule(name, 10, 0.5);
    REQUIRE(s->timestep() == 401);
    CHECK(max_difference(s->add_noise(x0, noise), x0 + sigma_at(401) * noise) < 1e-5);
  }
  // DPM-Solver's leading spacing divides by steps + 1 (90): 10 steps are 901, 811, ..., 91, and
  // its alpha_t x0 + sigma_t noise is DDPM's at the same timestep.
  auto dpm = cut_schedule("dpmpp_2m", 10, 0.5);
  REQUIRE(dpm->timestep() == 451);
  CHECK(max_difference(dpm->add_noise(x0, noise), ddpm(451)) < 1e-5);
  // Karras sigmas: rho-7 ramp from the largest training sigma to the smallest; strength 0.5 of 10
  // starts at ramp 5/9, which matches no training timestep.
  const double rho = 7, low = std::pow(sigma_at(0), 1 / rho),
               high = std::pow(sigma_at(999), 1 / rho);
  const double sigma = std::pow(high + 5.0 / 9.0 * (low - high), rho);
  const double alpha = 1 / std::sqrt(sigma * sigma + 1);
  CHECK(max_difference(cut_schedule("dpmpp_2m_karras", 10, 0.5)->add_noise(x0, noise),
                       alpha * x0 + sigma * alpha * noise) < 1e-4);
}

TEST_CASE("an init image's latents are the posterior sample then add_noise, in that draw order",
          "[img2img][pipeline]") {
  auto pipe = tiny_sd();
  const auto r = image_request(11, 10, 0.5);
  auto samples = pipe->start({r});
  auto& s = samples.front();
  CHECK(s.schedule->begin_index() == 5);

  // By hand: the image in [-1, 1], the VAE's moments, the generator's first draw for the
  // posterior sample and its second for the noise.
  torch::NoGradGuard no_grad;
  auto vae = load_vae(testing::data_dir() + "/tiny-sd/vae", torch::kCPU, torch::kFloat32);
  auto pixels =
      torch::tensor(std::vector<float>(r.init_image.pixels.begin(), r.init_image.pixels.end()))
          .view({1, 32, 32, 3});
  const auto input = (pixels / 255.0).permute({0, 3, 1, 2}) * 2.0 - 1.0;
  const auto moments = vae->encode_moments(input);
  const auto mean = moments.narrow(1, 0, 4), logvar = moments.narrow(1, 4, 4);
  auto draws = at::detail::createCPUGenerator(11);
  const auto first = torch::randn({1, 4, 16, 16}, draws);
  const auto second = torch::randn({1, 4, 16, 16}, draws);
  const auto init =
      vae->scaling_factor() * (mean + torch::exp(0.5 * logvar.clamp(-30, 20)) * first);
  auto schedule = pipe->schedulers().make("ddim", 10);
  schedule->begin_at(5);
  CHECK(max_difference(s.latents, schedule->add_noise(init, second)) < 1e-5);
  // The sample's generator goes on from there (Euler ancestral's step noise is its third draw).
  CHECK(torch::equal(torch::randn({4}, s.noise), torch::randn({4}, draws)));
}

TEST_CASE("an image-to-image sample gives its image beside text-to-image samples",
          "[img2img][pipeline]") {
  generator_options options;
  options.path = testing::data_dir() + "/tiny-sd";
  options.scheduler = "ddim";
  options.memory_budget_mb = 256;
  auto gen = load_generator(options);
  const auto image_sample = image_request(21, 6, 0.5);
  sample_request text = image_request(22, 4, 0.5);
  text.init_image = rgb_image();
  std::vector<int> totals(2, 0), last_steps(2, 0);
  auto record = [&](size_t index, int step, int total) {
    totals[index] = total;
    last_steps[index] = step;
    return true;
  };
  const auto alone = gen->generate({image_sample}, record);
  CHECK(totals[0] == 3);  // int(6 x 0.5) steps, counted from the first that runs
  CHECK(last_steps[0] == 3);
  const auto together = gen->generate({image_sample, text}, record);
  CHECK(totals[0] == 3);
  CHECK(totals[1] == 4);
  REQUIRE(alone[0].pixels.size() == 32 * 32 * 3);
  REQUIRE(together[0].pixels.size() == alone[0].pixels.size());
  // Batch-mates change at most a last bit of a row (model/README.md, "Batches").
  int worst = 0;
  for (size_t i = 0; i < alone[0].pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(alone[0].pixels[i]) - int(together[0].pixels[i])));
  CHECK(worst <= 1);

  // The image is where the run starts: another image, or strength 1 (noised at the first
  // timestep, not replaced by noise), or no image at all give other pictures.
  auto other = image_sample;
  other.init_image = test_image(32, 32, 3);
  auto full = image_sample;
  full.strength = 1.0;
  auto plain = full;
  plain.init_image = rgb_image();
  const auto variants = gen->generate({other, full, plain});
  CHECK(variants[0].pixels != alone[0].pixels);
  CHECK(variants[1].pixels != variants[2].pixels);
}

TEST_CASE("bad image-to-image requests fail with model_error", "[img2img][pipeline]") {
  auto pipe = tiny_sd();
  auto bad = [&](auto change) {
    auto r = image_request(1, 10, 0.5);
    change(r);
    return r;
  };
  CHECK_NOTHROW(pipe->validate(bad([](sample_request&) {})));
  CHECK_THROWS_WITH(pipe->validate(bad([](sample_request& r) { r.width = 64; })),
                    Catch::Contains("init image is 32x32"));
  CHECK_THROWS_WITH(pipe->validate(bad([](sample_request& r) { r.init_image.pixels.pop_back(); })),
                    Catch::Contains("width x height x 3"));
  CHECK_THROWS_WITH(pipe->validate(bad([](sample_request& r) { r.strength = 0; })),
                    Catch::Contains("strength"));
  CHECK_THROWS_WITH(pipe->validate(bad([](sample_request& r) { r.strength = 1.5; })),
                    Catch::Contains("strength"));
  CHECK_THROWS_WITH(pipe->validate(bad([](sample_request& r) { r.steps = 1; })),
                    Catch::Contains("at least 1"));
  CHECK_THROWS_AS(pipe->start({bad([](sample_request& r) { r.init_image.width = 31; })}),
                  model_error);
}
