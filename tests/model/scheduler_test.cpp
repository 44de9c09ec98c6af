#include "model/sampling/scheduler.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "model/generator.hpp"

using namespace muse::model;
using Catch::Matchers::WithinAbs;

namespace {

// Stable Diffusion 1.5's scheduler_config.json.
const nlohmann::json sd15 = {{"_class_name", "PNDMScheduler"},   {"beta_end", 0.012},
                             {"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085},
                             {"num_train_timesteps", 1000},      {"set_alpha_to_one", false},
                             {"skip_prk_steps", true},           {"steps_offset", 1},
                             {"trained_betas", nullptr},         {"clip_sample", false}};

// The SD1.5 training schedule, recomputed here in double precision.
std::vector<double> sd15_alphas_cumprod() {
  std::vector<double> out;
  double prod = 1;
  for (int i = 0; i < 1000; ++i) {
    const double root = std::sqrt(0.00085) + (std::sqrt(0.012) - std::sqrt(0.00085)) * i / 999.0;
    prod *= 1 - root * root;
    out.push_back(prod);
  }
  return out;
}

std::vector<double> leading(int steps) {
  std::vector<double> t;
  for (int i = steps - 1; i >= 0; --i) t.push_back(i * (1000 / steps) + 1);
  return t;
}

}  // namespace

TEST_CASE("scheduler names and effective configs") {
  scheduler_factory factory(sd15, "ddim");
  CHECK(factory.names().front() == "ddim");
  CHECK(factory.names().size() == scheduler_factory::all_names().size());
  auto euler = scheduler_factory::effective_config(sd15, "euler");
  // PNDM's default spacing travels with the config, as from_config(pipe.scheduler.config) does.
  CHECK(euler["timestep_spacing"] == "leading");
  CHECK(euler["steps_offset"] == 1);
  auto ddim = scheduler_factory::effective_config(sd15, "ddim");
  CHECK(ddim["clip_sample"] == false);
  CHECK(ddim["set_alpha_to_one"] == false);
  auto fresh =
      scheduler_factory::effective_config({{"_class_name", "EulerDiscreteScheduler"}}, "euler");
  CHECK(fresh["timestep_spacing"] == "linspace");
  CHECK_THROWS_AS(factory.make("lms", 25), model_error);
  CHECK_THROWS_AS(factory.make("ddim", 0), model_error);
  CHECK_THROWS_AS(scheduler_factory({{"beta_schedule", "sigmoid"}}, "ddim"), model_error);
  CHECK_THROWS_AS(scheduler_factory({{"prediction_type", "sample"}}, "euler"), model_error);
  CHECK_THROWS_AS(scheduler_factory({{"thresholding", true}}, "ddim"), model_error);
  // An SDE solver config withholds the DPM++ 2M names; the others stay available.
  scheduler_factory sde(
      {{"_class_name", "DPMSolverMultistepScheduler"}, {"algorithm_type", "sde-dpmsolver++"}},
      "ddim");
  CHECK(std::find(sde.names().begin(), sde.names().end(), "dpmpp_2m") == sde.names().end());
  CHECK(std::find(sde.names().begin(), sde.names().end(), "euler") != sde.names().end());
  CHECK_THROWS_WITH(sde.make("dpmpp_2m", 10), Catch::Contains("algorithm_type"));
  // "pndm" always means PLMS steps, as Stable Diffusion ships it.
  CHECK(scheduler_factory::effective_config({{"_class_name", "PNDMScheduler"}},
                                            "pndm")["skip_prk_steps"] == true);
}

TEST_CASE("DDIM timesteps and update for SD1.5 at 25 and 50 steps") {
  scheduler_factory factory(sd15, "ddim");
  for (int steps : {25, 50}) {
    auto s = factory.make("ddim", steps);
    CHECK(s->timesteps() == leading(steps));
    CHECK(s->init_noise_sigma() == 1.0);
  }
  // With a zero noise prediction the update rescales by sqrt(a_prev / a).
  const auto ac = sd15_alphas_cumprod();
  auto s = factory.make("ddim", 50);
  auto sample = torch::full({1, 4, 2, 2}, 0.5);
  auto next = s->step(torch::zeros_like(sample), sample, nullptr);
  CHECK_THAT(next[0][0][0][0].item<double>(), WithinAbs(0.5 * std::sqrt(ac[961] / ac[981]), 1e-5));
  CHECK(s->step_index() == 1);
  CHECK(s->timestep() == 961);
  // The last step goes to alphas_cumprod[0] (set_alpha_to_one is false).
  for (int i = 1; i < 49; ++i) s->step(torch::zeros_like(sample), sample, nullptr);
  auto last = s->step(torch::zeros_like(sample), sample, nullptr);
  CHECK(s->finished());
  CHECK_THAT(last[0][0][0][0].item<double>(), WithinAbs(0.5 * std::sqrt(ac[0] / ac[1]), 1e-5));
}

TEST_CASE("PNDM visits the second-to-last timestep twice") {
  scheduler_factory factory(sd15, "pndm");
  auto s = factory.make("pndm", 25);
  auto t = leading(25);
  std::vector<double> expected = {t[0], t[1], t[1]};
  expected.insert(expected.end(), t.begin() + 2, t.end());
  CHECK(s->timesteps() == expected);
  CHECK(s->num_steps() == 26);
  // A constant epsilon field through all PLMS orders stays finite and deterministic.
  auto sample = torch::ones({1, 4, 2, 2});
  while (!s->finished()) sample = s->step(torch::full_like(sample, 0.1), sample, nullptr);
  CHECK(std::isfinite(sample.sum().item<double>()));
}

TEST_CASE("Euler sigmas for SD1.5") {
  const auto ac = sd15_alphas_cumprod();
  auto sigma = [&](int t) { return std::sqrt((1 - ac[t]) / ac[t]); };
  CHECK_THAT(sigma(999), WithinAbs(14.6146, 1e-3));
  CHECK_THAT(sigma(0), WithinAbs(0.0292, 1e-4));

  scheduler_factory factory(sd15, "euler");
  auto s = factory.make("euler", 50);
  CHECK(s->timesteps() == leading(50));
  // "leading" spacing: sqrt(sigma_max^2 + 1).
  CHECK_THAT(s->init_noise_sigma(), WithinAbs(std::sqrt(sigma(981) * sigma(981) + 1), 1e-4));
  auto x = torch::full({1, 1, 1, 1}, 2.0);
  CHECK_THAT(s->scale_model_input(x).item<double>(),
             WithinAbs(2.0 / std::sqrt(sigma(981) * sigma(981) + 1), 1e-5));
  // Zero predicted noise keeps the sample (x0 = x).
  CHECK_THAT(s->step(torch::zeros_like(x), x, nullptr).item<double>(), WithinAbs(2.0, 1e-6));

  auto lin = scheduler_factory({{"_class_name", "EulerDiscreteScheduler"},
                                {"beta_schedule", "scaled_linear"},
                                {"beta_start", 0.00085},
                                {"beta_end", 0.012}},
                               "euler")
                 .make("euler", 25);
  CHECK(lin->timesteps().front() == 999);
  CHECK_THAT(lin->timesteps()[1], WithinAbs(999 - 999.0 / 24, 1e-3));
  CHECK_THAT(lin->init_noise_sigma(), WithinAbs(sigma(999), 1e-4));
}

TEST_CASE("Euler ancestral noise comes from the sample's generator") {
  scheduler_factory factory(sd15, "euler_ancestral");
  auto run = [&](uint64_t seed) {
    auto s = factory.make("euler_ancestral", 10);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    auto x = torch::ones({1, 4, 4, 4});
    while (!s->finished()) x = s->step(torch::zeros_like(x), x, &gen);
    return x;
  };
  CHECK(torch::equal(run(3), run(3)));
  CHECK(!torch::equal(run(3), run(4)));
}

TEST_CASE("DPM++ 2M timesteps, Karras sigmas and final step") {
  scheduler_factory factory({{"_class_name", "DPMSolverMultistepScheduler"},
                             {"beta_schedule", "scaled_linear"},
                             {"beta_start", 0.00085},
                             {"beta_end", 0.012}},
                            "dpmpp_2m");
  auto s = factory.make("dpmpp_2m", 25);
  REQUIRE(s->num_steps() == 25);
  CHECK(s->timesteps()[0] == 999);
  CHECK(s->timesteps()[1] == 959);  // round(999 * 24 / 25)
  CHECK(s->timesteps()[24] == 40);
  CHECK(s->init_noise_sigma() == 1.0);

  auto k = factory.make("dpmpp_2m_karras", 25);
  CHECK(k->timesteps().front() == 999);
  CHECK(k->timesteps().back() == 0);
  // Ending on sigma 0, the last update returns the predicted x0 exactly.
  auto x = torch::full({1, 1, 2, 2}, 0.3);
  for (int i = 0; i < 24; ++i) x = k->step(torch::zeros_like(x), x, nullptr);
  const auto before = x.clone();
  // x0 = (x - sigma_t * eps) / alpha_t with eps = 0 gives x * sqrt(sigma^2 + 1).
  auto out = k->step(torch::zeros_like(x), x, nullptr);
  CHECK(k->finished());
  CHECK_THAT(out.sum().item<double>(),
             WithinAbs(before.sum().item<double>() * std::sqrt(0.0292 * 0.0292 + 1), 1e-3));
}

TEST_CASE("trailing timesteps when the step count does not divide the training steps") {
  // SD 2.1's DDIM config with trailing spacing, as tests/data/tiny-sd2 carries it.
  nlohmann::json sd2 = sd15;
  sd2["_class_name"] = "DDIMScheduler";
  sd2["timestep_spacing"] = "trailing";
  sd2["prediction_type"] = "v_prediction";
  scheduler_factory factory(sd2, "ddim");
  // 7 and 13 do not divide 1000; 61 is a count where numpy's arange itself yields one value more
  // (a -1 timestep), which is left out.
  for (int steps : {7, 13, 25, 61}) {
    INFO(steps << " steps");
    // diffusers: np.round(np.arange(1000, 0, -1000 / steps)) - 1, here in exact arithmetic (no
    // value of these counts is a tie).
    std::vector<double> expected;
    for (int i = 0; i < steps; ++i)
      expected.push_back(std::nearbyint(1000.0 * (steps - i) / steps) - 1);
    for (const std::string name : {"ddim", "euler", "euler_ancestral", "dpmpp_2m"}) {
      INFO(name);
      auto s = factory.make(name, steps);
      CHECK(s->timesteps() == expected);
      auto x = torch::ones({1, 1, 2, 2});
      at::Generator gen = at::detail::createCPUGenerator(1);
      while (!s->finished()) x = s->step(torch::full_like(x, 0.1), x, &gen);
      CHECK(std::isfinite(x.sum().item<double>()));
    }
    // PNDM: the same timesteps, the second one visited twice.
    auto pndm = factory.make("pndm", steps);
    CHECK(pndm->num_steps() == steps + 1);
    CHECK(pndm->timesteps().back() == expected.back());
  }
}
