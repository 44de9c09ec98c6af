// StableDiffusionPipeline parity end to end, per scheduler, from the same seed: initial latents
// (bit-identical randn), prompt embeddings, the latents after every step, the final image; and
// a batch of two samples with their own generators. Also the single-file checkpoint.
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>

#include "model/pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

const nlohmann::json& pipeline_metadata(const std::string& name) {
  static const auto all = testing::metadata();
  return all.at("pipelines").at(name).at("pipeline");
}

void check_pipeline(const std::string& name, const std::string& model_path,
                    const std::string& config_dir = "",
                    const std::vector<std::string>& schedulers = scheduler_factory::all_names()) {
  const auto ref = testing::reference(name, "pipeline");
  // Seeds as diffusers: torch.randn from a CPU generator is bit-identical here.
  auto gen = at::detail::createCPUGenerator(pipeline_metadata(name).at("seed").get<uint64_t>());
  CHECK(torch::equal(torch::randn({1, 4, 16, 16}, gen, torch::kFloat32), ref.get("init_latents")));
  auto pipe = pipeline::load(model_path, "cpu", "float32", "ddim", config_dir);
  for (const auto& scheduler : schedulers) {
    if (!ref.contains(scheduler + ".final_latents")) continue;
    INFO(name << " " << scheduler);
    auto samples = pipe->start({testing::pipeline_reference_request(name, scheduler)});
    auto& s = samples.front();
    testing::check_close(s.latents, ref.get("init_latents") * s.schedule->init_noise_sigma(),
                         "initial latents");
    testing::check_close(s.cond.context, ref.get("prompt_embeds"), "prompt embeddings");
    testing::check_close(s.uncond.context, ref.get("negative_prompt_embeds"),
                         "negative prompt embeddings");
    const auto expected_t = ref.get(scheduler + ".timesteps").to(torch::kFloat64);
    const auto step_latents = ref.get(scheduler + ".step_latents");
    REQUIRE(s.schedule->num_steps() == expected_t.size(0));
    for (int64_t k = 0; !s.finished(); ++k) {
      INFO("step " << k);
      CHECK(std::abs(s.schedule->timestep() - expected_t[k].item<double>()) <= 1e-3);
      pipe->step({&s});
      testing::check_close(s.latents, step_latents[k], "latents");
    }
    testing::check_close(s.latents, ref.get(scheduler + ".final_latents"), "final latents");
    testing::check_image(pipe->decode({&s}).front(), ref.get(scheduler + ".image")[0], "image");
  }

  // Two samples, each with its own generator, in one batch.
  auto a = testing::pipeline_reference_request(name, "ddim"), b = a;
  a.prompt = "a red sports car driving through the desert";
  a.negative_prompt = "low quality";
  b.prompt = "a castle on a cliff above a stormy sea";
  b.negative_prompt = "blurry, text";
  b.seed = a.seed + 1;
  for (const std::string scheduler : {"ddim", "euler_ancestral"}) {
    INFO(name << " batch " << scheduler);
    a.scheduler = b.scheduler = scheduler;
    auto samples = pipe->start({a, b});
    const auto init = ref.get("batch.init_latents");
    testing::check_close(samples[0].latents,
                         init.narrow(0, 0, 1) * samples[0].schedule->init_noise_sigma(), "first");
    testing::check_close(samples[1].latents,
                         init.narrow(0, 1, 1) * samples[1].schedule->init_noise_sigma(), "second");
    std::vector<sample_state*> batch = {&samples[0], &samples[1]};
    while (!samples[0].finished()) pipe->step(batch);
    auto images = pipe->decode(batch);
    const auto expected = ref.get("batch." + scheduler + ".image");
    testing::check_image(images[0], expected[0], "first");
    testing::check_image(images[1], expected[1], "second");
  }
}

}  // namespace

TEST_CASE("pipeline parity with diffusers (SD1-style tiny model)", "[parity][pipeline]") {
  if (!testing::have_reference("tiny-sd")) {
    WARN("reference data for tiny-sd absent");
    return;
  }
  check_pipeline("tiny-sd", testing::data_dir() + "/tiny-sd");
}

TEST_CASE("pipeline parity with diffusers (SD2-style tiny model: v-prediction, trailing)",
          "[parity][pipeline]") {
  if (!testing::have_reference("tiny-sd2")) {
    WARN("reference data for tiny-sd2 absent");
    return;
  }
  check_pipeline("tiny-sd2", testing::data_dir() + "/tiny-sd2");
}

TEST_CASE("pipeline parity from the single-file checkpoint", "[parity][pipeline][single_file]") {
  const auto file = testing::data_dir() + "/tiny-sd-single.safetensors";
  if (!testing::have_reference("tiny-sd") || !std::ifstream(file)) {
    WARN("single-file checkpoint absent");
    return;
  }
  check_pipeline("tiny-sd", file, testing::data_dir() + "/tiny-sd", {"ddim", "euler_ancestral"});
  CHECK_THROWS_AS(pipeline::load(file, "cpu", "float32", "ddim"),
                  model_error);  // tests/data has no model_index.json
}
