// Scheduler parity with diffusers: timesteps for 10/25/50 steps, init_noise_sigma, and a 10-step
// run on fixed tensors (scaled inputs and every previous sample), for both test pipelines'
// scheduler configs (SD1.5's PNDM/epsilon/leading and SD2.1's DDIM/v-prediction/trailing).
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>

#include "model/formats/model_dir.hpp"
#include "model/sampling/scheduler.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

std::vector<double> as_doubles(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

TEST_CASE("scheduler parity with diffusers", "[parity][scheduler]") {
  for (const std::string pipeline : {"tiny-sd", "tiny-sd2"}) {
    if (!testing::have_reference(pipeline)) {
      WARN("reference data for " << pipeline << " absent");
      continue;
    }
    const auto ref = testing::reference(pipeline, "schedulers");
    const auto config =
        read_json_file(testing::data_dir() + "/" + pipeline + "/scheduler/scheduler_config.json");
    scheduler_factory factory(config, "ddim");
    for (const auto& name : scheduler_factory::all_names()) {
      INFO(pipeline << " " << name);
      if (!ref.contains(name + ".step_timesteps")) continue;
      for (int steps : {10, 25, 50}) {
        auto s = factory.make(name, steps);
        const auto expected = as_doubles(ref.get(name + ".timesteps_" + std::to_string(steps)));
        REQUIRE(s->timesteps().size() == expected.size());
        for (size_t i = 0; i < expected.size(); ++i) {
          INFO("steps " << steps << " index " << i);
          CHECK(std::abs(s->timesteps()[i] - expected[i]) <= 1e-3);
        }
      }
      auto s = factory.make(name, 10);
      CHECK(std::abs(s->init_noise_sigma() - ref.get(name + ".init_noise_sigma").item<double>()) <=
            1e-5);
      const auto outputs = ref.get("model_outputs");
      auto sample = ref.get("base_sample") * s->init_noise_sigma();
      testing::check_close(sample, ref.get(name + ".initial_sample"), "initial sample");
      at::Generator noise = at::detail::createCPUGenerator(1234);
      const auto scaled = ref.get(name + ".scaled_inputs");
      const auto prev = ref.get(name + ".prev_samples");
      for (int64_t k = 0; !s->finished(); ++k) {
        INFO("step " << k);
        testing::check_close(s->scale_model_input(sample), scaled[k], "scaled input");
        sample = s->step(outputs[k], sample, &noise);
        testing::check_close(sample, prev[k], "previous sample");
      }
    }
  }
}
