// StableDiffusionPipeline parity end to end over the case matrix of
// reference/<pipeline>_end_to_end.safetensors (tools/reference/build_end_to_end.py): every
// scheduler, step counts of which some do not divide the 1000 training timesteps, guidance with a
// negative prompt, with none (diffusers then encodes ""), and guidance 1 (no classifier-free
// guidance: one UNet row). Each case is one image from its own seed, run as a client's request
// is: start -> step until finished -> decode.
//
// Bars: final latents as every parity test (reference.hpp: check_close), the 8-bit image within
// one level. DDIM needs no looser bar here: both tiny pipelines' configs set clip_sample false
// (end_to_end.json records the resolved configs). With clip_sample true, DDIM clamps its x0
// prediction to [-1, 1], a step function of the input, so a value a rounding error from the edge
// lands on either side and the difference grows over the remaining steps (a check of DDIM with
// clip_sample on measured up to 7/255 on a few pixels).
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "model/pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

std::string end_to_end_path(const std::string& file) {
  return testing::data_dir() + "/reference/" + file;
}

std::string values(const torch::Tensor& t) {
  std::ostringstream out;
  for (int64_t i = 0; i < t.size(0); ++i) out << (i ? " " : "") << t[i].item<double>();
  return out.str();
}

// Missing data fails the test: a parity test that skips itself proves nothing.
nlohmann::json end_to_end_metadata() {
  const auto path = end_to_end_path("end_to_end.json");
  std::ifstream in(path);
  INFO(
      path
      << " is missing: make it with tools/reference/generate.sh end_to_end (tests/data/README.md)");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// The file must hold the matrix it claims, so that a thinned file cannot pass for coverage.
void check_coverage(const nlohmann::json& cases) {
  for (const auto& scheduler : scheduler_factory::all_names()) {
    INFO("cases of scheduler " << scheduler);
    bool odd_steps = false, negative = false, no_negative = false, no_guidance = false;
    for (const auto& c : cases) {
      if (c.at("scheduler") != scheduler) continue;
      odd_steps |= 1000 % c.at("steps").get<int>() != 0;
      const bool guided = c.at("guidance_scale").get<float>() > 1.0f;
      negative |= guided && !c.at("negative_prompt").is_null();
      no_negative |= guided && c.at("negative_prompt").is_null();
      no_guidance |= !guided;
    }
    CHECK(odd_steps);
    CHECK(negative);
    CHECK(no_negative);
    CHECK(no_guidance);
  }
}

void check_end_to_end(const std::string& name) {
  const auto meta = end_to_end_metadata();
  const auto& entry = meta.at("pipelines").at(name);
  const auto& cases = entry.at("cases");
  REQUIRE(!cases.empty());
  check_coverage(cases);
  const auto tensors = end_to_end_path(name + "_end_to_end.safetensors");
  {
    INFO(tensors << " is missing: make it with tools/reference/generate.sh end_to_end "
                    "(tests/data/README.md)");
    REQUIRE(std::ifstream(tensors).good());
  }
  const auto ref = weight_map::open(tensors);
  auto pipe = pipeline::load(testing::data_dir() + "/" + name, "cpu", "float32", "ddim");

  for (const auto& c : cases) {
    const auto id = c.at("name").get<std::string>();
    INFO(name << " " << id);
    sample_request r;
    r.prompt = meta.at("prompt").get<std::string>();
    r.negative_prompt =
        c.at("negative_prompt").is_null() ? "" : c.at("negative_prompt").get<std::string>();
    r.guidance_scale = c.at("guidance_scale").get<float>();
    r.steps = c.at("steps").get<int>();
    r.seed = c.at("seed").get<uint64_t>();
    r.width = entry.at("width").get<int>();
    r.height = entry.at("height").get<int>();
    r.scheduler = c.at("scheduler").get<std::string>();
    auto samples = pipe->start({r});
    auto& s = samples.front();
    // diffusers' choice of one or two UNet rows (do_classifier_free_guidance) is ours.
    CHECK((s.uses_guidance() ? 2 : 1) == c.at("unet_rows").get<int>());

    const auto expected_t = ref.get(id + ".timesteps").to(torch::kFloat64);
    const auto ours_t = torch::tensor(s.schedule->timesteps(), torch::kFloat64);
    INFO("timesteps: ours " << values(ours_t) << "; diffusers " << values(expected_t));
    if (ours_t.size(0) != expected_t.size(0)) {
      FAIL_CHECK("a different number of model calls");
      continue;
    }
    CHECK((ours_t - expected_t).abs().max().item<double>() <= 1e-3);

    while (!s.finished()) pipe->step({&s});
    testing::check_close(s.latents, ref.get(id + ".final_latents"), "final latents");
    testing::check_image(pipe->decode({&s}).front(), ref.get(id + ".image")[0], "image");
  }
}

}  // namespace

TEST_CASE("end-to-end parity with diffusers over schedulers, step counts and guidance (tiny-sd)",
          "[parity][pipeline][end_to_end]") {
  check_end_to_end("tiny-sd");
}

TEST_CASE("end-to-end parity with diffusers over schedulers, step counts and guidance (tiny-sd2)",
          "[parity][pipeline][end_to_end]") {
  check_end_to_end("tiny-sd2");
}
