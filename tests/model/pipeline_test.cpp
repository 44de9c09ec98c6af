// The pipeline end to end on a tiny random-weight model written by the test: loading and limits,
// per-sample determinism whatever the batch, step-level joining, cancellation, request errors.
#include "model/pipeline.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "model/formats/model_dir.hpp"
#include "model/generator.hpp"
#include "tiny_pipeline.hpp"

using namespace muse::model;

namespace {

const nlohmann::json sd_scheduler = {{"_class_name", "PNDMScheduler"},
                                     {"beta_end", 0.012},
                                     {"beta_schedule", "scaled_linear"},
                                     {"beta_start", 0.00085},
                                     {"num_train_timesteps", 1000},
                                     {"set_alpha_to_one", false},
                                     {"skip_prk_steps", true},
                                     {"steps_offset", 1},
                                     {"clip_sample", false}};

const std::string& tiny_dir() {
  static const std::string dir = testing::write_tiny_pipeline("pipeline", sd_scheduler);
  // Registered after `dir` is built, so it runs before `dir` is destroyed.
  static const bool cleanup_registered = std::atexit([] { testing::remove_tree(tiny_dir()); }) == 0;
  (void)cleanup_registered;
  return dir;
}

generator& tiny_generator() {
  static auto gen = [] {
    generator_options options;
    options.path = tiny_dir();
    options.scheduler = "ddim";
    return load_generator(options);
  }();
  return *gen;
}

sample_request request(uint64_t seed, const std::string& scheduler = "ddim", int steps = 6) {
  sample_request r;
  r.prompt = "a cat";
  r.negative_prompt = "dog";
  r.seed = seed;
  r.steps = steps;
  r.width = 16;
  r.height = 16;
  r.scheduler = scheduler;
  return r;
}

int max_difference(const rgb_image& a, const rgb_image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

}  // namespace

TEST_CASE("the tiny pipeline loads with limits from its configs", "[pipeline]") {
  auto limits = tiny_generator().limits();
  CHECK(limits.size_multiple == 4);  // VAE factor 2 x one UNet down-sampling
  CHECK(limits.default_width == 16);
  CHECK(limits.default_height == 16);
  CHECK(limits.schedulers.front() == "ddim");
  CHECK(limits.schedulers.size() == 6);
}

TEST_CASE("a sample's image does not depend on its batch-mates", "[pipeline]") {
  auto& gen = tiny_generator();
  auto alone = gen.generate({request(7)});
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].width == 16);
  CHECK(alone[0].height == 16);
  CHECK(alone[0].pixels.size() == 16 * 16 * 3);
  auto mixed_request = request(8);
  mixed_request.guidance_scale = 1.0f;
  mixed_request.width = 24;
  auto together = gen.generate({request(9), request(7), mixed_request});
  CHECK(max_difference(alone[0], together[1]) <= 1);
  CHECK(together[2].width == 24);
  CHECK(max_difference(together[0], together[1]) > 0);
  CHECK(max_difference(gen.generate({request(7)})[0], alone[0]) == 0);
}

TEST_CASE("repeated prompts are encoded once and keep their rows", "[pipeline]") {
  auto pipe = pipeline::load(tiny_dir(), "cpu", "float32", "ddim");
  const auto encode = [&](const std::vector<std::string>& texts) {
    std::vector<text_prompt> prompts;
    for (const auto& text : texts) prompts.push_back({text, "", false, {}});
    return pipe->encode(prompts).context;
  };
  const auto separate = torch::cat({encode({"a red apple"}), encode({""}), encode({"rocket"})});
  const auto shared = encode({"a red apple", "", "a red apple", "rocket", "", ""});
  REQUIRE(shared.size(0) == 6);
  const std::vector<int64_t> source = {0, 1, 0, 2, 1, 1};
  for (size_t row = 0; row < source.size(); ++row)
    CHECK(torch::allclose(shared[static_cast<int64_t>(row)], separate[source[row]], 1e-5, 1e-6));
  CHECK_FALSE(torch::allclose(shared[0], shared[1]));
}

TEST_CASE("samples join a running batch between steps", "[pipeline]") {
  auto& gen = tiny_generator();
  const auto a_alone = gen.generate({request(1, "euler_ancestral", 5)})[0];
  const auto b_alone = gen.generate({request(2, "dpmpp_2m", 4)})[0];
  auto batch = gen.start_batch();
  batch->add(10, request(1, "euler_ancestral", 5));
  batch->step();
  batch->step();
  batch->add(20, request(2, "dpmpp_2m", 4));
  CHECK_THROWS_AS(batch->add(20, request(3)), model_error);
  std::map<uint64_t, rgb_image> done;
  int steps = 0;
  while (batch->size() > 0 && steps++ < 20)
    for (auto& report : batch->step())
      if (report.finished) done[report.tag] = report.image;
  REQUIRE(done.size() == 2);
  CHECK(max_difference(done[10], a_alone) <= 1);
  CHECK(max_difference(done[20], b_alone) <= 1);
}

TEST_CASE("samples of one size with different step counts and guidance share UNet calls",
          "[pipeline]") {
  // Fast and Quality of one scheduler and size, as the actors' batch key lets them ride: one
  // UNet call per step for all (guided samples two rows, unguided one), each sample at its own
  // timestep; the short one leaves when done and a waiting one takes its place.
  auto& gen = tiny_generator();
  auto quality = request(1, "ddim", 6), fast = request(2, "ddim", 3), late = request(3, "ddim", 4);
  fast.guidance_scale = 1.0f;
  late.guidance_scale = 3.0f;
  const auto quality_alone = gen.generate({quality})[0];
  const auto fast_alone = gen.generate({fast})[0];
  const auto late_alone = gen.generate({late})[0];
  auto batch = gen.start_batch();
  batch->add(1, quality);
  batch->add(2, fast);
  std::map<uint64_t, rgb_image> done;
  std::map<uint64_t, int> finished_at;
  for (int call = 1; call <= 7 && batch->size() > 0; ++call) {
    if (call == 4) {
      CHECK(batch->size() == 1);  // the fast sample has left
      batch->add(3, late);
    }
    for (auto& report : batch->step()) {
      if (report.tag == 1) CHECK(report.step == call);
      if (report.tag == 3) CHECK(report.step == call - 3);
      if (!report.finished) continue;
      done[report.tag] = report.image;
      finished_at[report.tag] = call;
    }
  }
  CHECK(batch->size() == 0);
  REQUIRE(done.size() == 3);
  CHECK(finished_at[2] == 3);
  CHECK(finished_at[1] == 6);
  CHECK(finished_at[3] == 7);
  CHECK(max_difference(done[1], quality_alone) <= 1);
  CHECK(max_difference(done[2], fast_alone) <= 1);
  CHECK(max_difference(done[3], late_alone) <= 1);
}

TEST_CASE("every scheduler runs and reports its steps", "[pipeline]") {
  auto& gen = tiny_generator();
  for (const auto& name : gen.limits().schedulers) {
    std::vector<int> seen;
    auto images = gen.generate({request(3, name, 4)}, [&](size_t, int step, int total) {
      seen.push_back(step);
      CHECK(total == (name == "pndm" ? 5 : 4));
      return true;
    });
    INFO(name);
    CHECK(images[0].pixels.size() == 16 * 16 * 3);
    CHECK(seen.back() == (name == "pndm" ? 5 : 4));
    CHECK(std::minmax_element(images[0].pixels.begin(), images[0].pixels.end()).first !=
          std::minmax_element(images[0].pixels.begin(), images[0].pixels.end()).second);
  }
}

TEST_CASE("a cancelled sample leaves the batch with an empty image", "[pipeline]") {
  auto images = tiny_generator().generate(
      {request(4), request(5)},
      [](size_t index, int step, int) { return !(index == 1 && step == 2); });
  CHECK(images[0].width == 16);
  CHECK(images[1].width == 0);
  CHECK(images[1].pixels.empty());
}

TEST_CASE("bad requests and models fail with model_error", "[pipeline]") {
  auto batch = tiny_generator().start_batch();
  auto bad = request(1);
  bad.width = 18;
  CHECK_THROWS_WITH(batch->add(1, bad), Catch::Contains("width"));
  bad = request(1);
  bad.steps = 0;
  CHECK_THROWS_AS(batch->add(1, bad), model_error);
  CHECK_THROWS_WITH(batch->add(1, request(1, "lms")), Catch::Contains("lms"));
  CHECK(batch->size() == 0);

  generator_options options;
  options.path = "/nonexistent/model";
  CHECK_THROWS_AS(load_generator(options), model_error);
  options.path = tiny_dir();
  options.dtype = "int4";
  CHECK_THROWS_WITH(load_generator(options), Catch::Contains("int4"));
  options.dtype = "float32";
  options.scheduler = "heun";
  CHECK_THROWS_WITH(load_generator(options), Catch::Contains("heun"));

  const auto broken = testing::write_tiny_pipeline("broken", sd_scheduler);
  auto index = read_json_file(broken + "/model_index.json");
  index["vae"] = {"diffusers", "AutoencoderTiny"};
  testing::write_json(broken + "/model_index.json", index);
  options.path = broken;
  options.scheduler = "ddim";
  CHECK_THROWS_WITH(load_generator(options), Catch::Contains("AutoencoderTiny"));
  testing::remove_tree(broken);
}
