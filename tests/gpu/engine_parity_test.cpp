// The pipeline on a CUDA device with every engine switch on (CUDA graphs, channels_last, fused
// kernels) against the same pipeline with every switch off (libtorch eager, NCHW), and against
// diffusers' own outputs: the CPU float32 references of tests/model and the float16 ones that
// tools/reference/build_cuda_references.py made with diffusers on a GPU.
// libtorch's CUDA builds log through glog, whose CHECK macro would shadow Catch2's: torch first.
#include <ATen/cuda/CUDAContext.h>
#include <torch/torch.h>
#undef CHECK
#include <catch2/catch.hpp>
#include <fstream>

#include "model/pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

const cuda_engine_options all_on{};
const cuda_engine_options all_off{false, false, false};

std::string tiny(const std::string& name) { return testing::data_dir() + "/" + name; }

std::shared_ptr<pipeline> load(const std::string& name, const std::string& dtype,
                               const cuda_engine_options& options) {
  return pipeline::load(tiny(name), "cuda:0", dtype, "ddim", "", options);
}

struct result {
  std::vector<torch::Tensor> latents;
  std::vector<rgb_image> images;
};

// Runs `requests` as one step-level batch to the end.
result run(pipeline& pipe, const std::vector<sample_request>& requests) {
  auto samples = pipe.start(requests);
  std::vector<sample_state*> batch;
  for (auto& s : samples) batch.push_back(&s);
  for (bool running = true; running;) {
    pipe.step(batch);
    running = false;
    for (auto* s : batch) running = running || !s->finished();
  }
  result out;
  for (auto* s : batch) out.latents.push_back(s->latents.to(torch::kCPU));
  out.images = pipe.decode(batch);
  return out;
}

int max_pixel_difference(const rgb_image& a, const rgb_image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

// diffusers' image is float in [0, 1]; ours is its (x * 255).round().
int max_pixel_difference(const rgb_image& image, const torch::Tensor& expected) {
  auto ours = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                               {image.height, image.width, 3}, torch::kUInt8)
                  .to(torch::kFloat64);
  auto theirs = (expected.to(torch::kFloat64) * 255).round().reshape(ours.sizes());
  return static_cast<int>((ours - theirs).abs().max().item<double>());
}

double relative_error(const torch::Tensor& a, const torch::Tensor& e) {
  const auto ad = a.to(torch::kFloat64), ed = e.to(torch::kFloat64);
  return (ad - ed).abs().max().item<double>() / std::max(1.0, ed.abs().max().item<double>());
}

// Different sizes of batch, so that graph buckets are padded (3 samples of which one without
// guidance: 5 UNet rows run in the bucket of 6).
std::vector<sample_request> mixed_batch(const std::string& scheduler) {
  std::vector<sample_request> out;
  const std::vector<std::string> prompts = {"a red fox in the snow", "a castle on a hill",
                                            "a bowl of fruit"};
  for (size_t i = 0; i < prompts.size(); ++i) {
    sample_request r;
    r.prompt = prompts[i];
    r.negative_prompt = i == 1 ? "blurry" : "";
    r.guidance_scale = i == 2 ? 1.0f : 7.5f;
    r.steps = 10 + static_cast<int>(i) * 3;
    r.seed = 100 + i;
    r.width = r.height = 32;
    r.scheduler = scheduler;
    out.push_back(r);
  }
  return out;
}

}  // namespace

TEST_CASE("the CUDA engine gives the eager result", "[gpu][engine]") {
  for (const std::string name : {"tiny-sd", "tiny-sd2", "tiny-sdxl"})
    for (const std::string dtype : {"float32", "float16"}) {
      auto eager = load(name, dtype, all_off);
      auto fast = load(name, dtype, all_on);
      for (const std::string scheduler : {"ddim", "euler_ancestral", "dpmpp_2m"}) {
        INFO(name << " " << dtype << " " << scheduler);
        const auto requests = mixed_batch(scheduler);
        const auto expected = run(*eager, requests);
        const auto actual = run(*fast, requests);
        const auto again = run(*fast, requests);
        for (size_t i = 0; i < requests.size(); ++i) {
          const double latent_error = relative_error(actual.latents[i], expected.latents[i]);
          const int pixels = max_pixel_difference(actual.images[i], expected.images[i]);
          INFO("sample " << i << ": latents " << latent_error << ", pixels " << pixels);
          CHECK(latent_error <= (dtype == "float32" ? 1e-3 : 2e-2));
          CHECK(pixels <= (dtype == "float32" ? 1 : 3));
          // Replays are deterministic.
          CHECK(torch::equal(actual.latents[i], again.latents[i]));
        }
      }
    }
}

TEST_CASE("a sample's image does not depend on its batch-mates on the CUDA engine",
          "[gpu][engine]") {
  auto fast = load("tiny-sd", "float16", all_on);
  auto requests = mixed_batch("ddim");
  const auto together = run(*fast, requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto alone = run(*fast, {requests[i]});
    INFO("sample " << i);
    CHECK(max_pixel_difference(alone.images[0], together.images[i]) <= 1);
  }
}

TEST_CASE("the CUDA engine in float32 matches diffusers' CPU references", "[gpu][parity]") {
  for (const std::string name : {"tiny-sd", "tiny-sd2"}) {
    REQUIRE(testing::have_reference(name));
    const auto ref = testing::reference(name, "pipeline");
    auto fast = load(name, "float32", all_on);
    for (const auto& scheduler : scheduler_factory::all_names()) {
      if (!ref.contains(scheduler + ".final_latents")) continue;
      INFO(name << " " << scheduler);
      const auto out = run(*fast, {testing::pipeline_reference_request(name, scheduler)});
      const double latent_error =
          relative_error(out.latents[0], ref.get(scheduler + ".final_latents"));
      const int pixels = max_pixel_difference(out.images[0], ref.get(scheduler + ".image")[0]);
      INFO("latents " << latent_error << ", pixels " << pixels);
      CHECK(latent_error <= 1e-3);
      CHECK(pixels <= 1);
    }
  }
}

TEST_CASE("the CUDA engine in float32 matches StableDiffusionXLPipeline's CPU references",
          "[gpu][parity][sdxl]") {
  const auto ref = testing::reference("tiny-sdxl", "pipeline");
  auto fast = load("tiny-sdxl", "float32", all_on);
  for (const auto& [name, c] : testing::sdxl_metadata().at("cases").items()) {
    if (c.at("negative_prompt") == "") continue;  // explicit "": see sdxl_pipeline_parity_test
    INFO("tiny-sdxl " << name);
    const auto out = run(*fast, {testing::sdxl_case_request(name)});
    const double latent_error = relative_error(out.latents[0], ref.get(name + ".final_latents"));
    const int pixels = max_pixel_difference(out.images[0], ref.get(name + ".image")[0]);
    INFO("latents " << latent_error << ", pixels " << pixels);
    CHECK(latent_error <= 1e-3);
    CHECK(pixels <= 1);
  }
}

TEST_CASE("the CUDA engine in float16 matches diffusers' float16 outputs on the GPU",
          "[gpu][parity]") {
  for (const std::string name : {"tiny-sd", "tiny-sd2", "tiny-sdxl"}) {
    const auto file = testing::data_dir() + "/reference/" + name + "_cuda_fp16.safetensors";
    REQUIRE(std::ifstream(file).good());
    const auto ref = weight_map::open(file);
    auto fast = load(name, "float16", all_on);
    for (const auto& scheduler : scheduler_factory::all_names()) {
      INFO(name << " " << scheduler);
      REQUIRE(ref.contains(scheduler + ".image"));
      // The settings of the CPU end-to-end references (tiny-sdxl: its cases with a negative).
      const auto request = name == "tiny-sdxl"
                               ? testing::sdxl_case_request(scheduler + ".negative")
                               : testing::pipeline_reference_request(name, scheduler);
      const auto out = run(*fast, {request});
      const double latent_error =
          relative_error(out.latents[0], ref.get(scheduler + ".final_latents"));
      const int pixels = max_pixel_difference(out.images[0], ref.get(scheduler + ".image")[0]);
      INFO("latents " << latent_error << ", pixels " << pixels);
      CHECK(latent_error <= 2e-2);
      CHECK(pixels <= 3);
    }
  }
}

TEST_CASE("a CUDA worker's default memory budget is its share of the GPU's memory",
          "[gpu][memory]") {
  auto pipe = load("tiny-sd", "float16", all_on);
  const device_memory memory = pipe->memory();
  const int64_t total = int64_t(at::cuda::getDeviceProperties(0)->totalGlobalMem);
  CHECK_FALSE(memory.host);
  CHECK(memory.total_bytes == total);
  CHECK(memory.weights_bytes > 0);
  CHECK(memory.weights_bytes < (int64_t(64) << 20));  // tiny-sd in float16
  const int64_t budget = memory_budget_bytes(0, memory, 2);
  CHECK(budget == total / 10 * 9 / 2 - memory.weights_bytes);
  pipe->set_memory_budget(budget);
  CHECK(pipe->limits().memory_budget_mb == budget >> 20);
}
