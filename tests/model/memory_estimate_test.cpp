// The memory estimate: grows with size and batch, and the limits derived from it are exact.
#include "model/memory_estimate.hpp"

#include <catch2/catch.hpp>

using namespace muse::model;

namespace {

// Stable Diffusion 1.5's UNet and VAE.
memory_architecture sd15(int dtype_bytes = 4) {
  memory_architecture a;
  a.vae_factor = 8;
  a.latent_channels = 4;
  const int channels[] = {320, 640, 1280, 1280};
  for (int l = 0; l < 4; ++l) {
    memory_architecture::unet_level level;
    level.channels = channels[l];
    level.layers = 2;
    level.attention = l < 3;
    level.heads = 8;
    a.unet_levels.push_back(level);
  }
  a.vae_channels = {128, 256, 512, 512};
  a.vae_layers_per_block = 2;
  a.dtype_bytes = dtype_bytes;
  return a;
}

constexpr int64_t mib = int64_t(1) << 20;

}  // namespace

TEST_CASE("the memory estimate grows with the picture and the batch", "[memory]") {
  const auto a = sd15();
  int64_t previous = 0;
  for (int side = 64; side <= 2048; side += 64) {
    CAPTURE(side);
    const auto need = estimate_memory(a, int64_t(side) * side, 1, 2);
    CHECK(need.peak_bytes() >= previous);
    CHECK(need.peak_bytes() == std::max(need.unet_step_bytes, need.vae_decode_bytes));
    previous = need.peak_bytes();
    CHECK(sample_memory_bytes(a, side, side) == need.peak_bytes());
  }
  for (int64_t pixels : {int64_t(64 * 64), int64_t(512 * 512), int64_t(1024 * 1024)}) {
    CAPTURE(pixels);
    for (int images = 1; images < 8; ++images) {
      const auto fewer = estimate_memory(a, pixels, images, 2 * images);
      const auto more = estimate_memory(a, pixels, images + 1, 2 * images + 2);
      CHECK(more.unet_step_bytes > fewer.unet_step_bytes);
      CHECK(more.vae_decode_bytes > fewer.vae_decode_bytes);
      // Guidance doubles the UNet's rows, not the VAE's images.
      const auto unguided = estimate_memory(a, pixels, images, images);
      CHECK(unguided.unet_step_bytes < fewer.unet_step_bytes);
      CHECK(unguided.vae_decode_bytes == fewer.vae_decode_bytes);
    }
  }
  // Half precision halves the activations (the float32 attention scores stay).
  CHECK(estimate_memory(sd15(2), 512 * 512, 1, 2).peak_bytes() <
        estimate_memory(a, 512 * 512, 1, 2).peak_bytes());
}

TEST_CASE("the memory estimate of SD 1.5 at 1024x1024 is in gigabytes, bounded by the score chunks",
          "[memory]") {
  // The unchunked VAE mid-block scores alone would be 16384^2 x 4 bytes = 1 GiB per sample.
  const auto need = estimate_memory(sd15(), 1024 * 1024, 1, 2);
  CHECK(need.vae_decode_bytes > 2048 * mib);
  CHECK(need.vae_decode_bytes < 16384 * mib);
  CHECK(need.unet_step_bytes > 512 * mib);
  CHECK(estimate_memory(sd15(), 64 * 64, 1, 2).peak_bytes() < 64 * mib);
}

TEST_CASE("the largest fitting picture is the boundary of the estimate", "[memory]") {
  const auto a = sd15();
  for (int64_t budget_mb : {256, 1024, 4096, 16384}) {
    CAPTURE(budget_mb);
    const int64_t budget = budget_mb * mib;
    const int64_t structural = int64_t(4096) * 4096;
    const int64_t pixels = max_fitting_pixels(a, budget, structural);
    REQUIRE(pixels > 0);
    REQUIRE(pixels < structural);
    CHECK(estimate_memory(a, pixels, 1, 2).peak_bytes() <= budget);
    CHECK(estimate_memory(a, pixels + 1, 1, 2).peak_bytes() > budget);
  }
  // A budget beyond the largest picture gives the structural limit; one below a pixel gives 0.
  CHECK(max_fitting_pixels(a, int64_t(1) << 50, 1024 * 1024) == 1024 * 1024);
  CHECK(max_fitting_pixels(a, 1, 1024 * 1024) == 0);
}

TEST_CASE("a worker's memory budget: the configured value, or its share of the device",
          "[memory]") {
  const device_memory cpu{true, 64 * 1024 * mib, 500 * mib};
  CHECK(memory_budget_bytes(300, cpu, 1) == 300 * mib);
  CHECK(memory_budget_bytes(300, cpu, 4) == 300 * mib);
  // The CPU: half the RAM, shared by the slots.
  CHECK(memory_budget_bytes(0, cpu, 1) == 32 * 1024 * mib);
  CHECK(memory_budget_bytes(0, cpu, 2) == 16 * 1024 * mib);
  CHECK(memory_budget_bytes(0, cpu, 0) == 32 * 1024 * mib);
  // A GPU: 90% of its memory, less each worker's weights.
  const device_memory gpu{false, 10000 * mib, 1000 * mib};
  CHECK(memory_budget_bytes(0, gpu, 1) == 8000 * mib);
  CHECK(memory_budget_bytes(0, gpu, 3) == 2000 * mib);
  CHECK(memory_budget_bytes(0, gpu, 9) == mib);  // nothing left: refused by the pipeline
  CHECK(host_memory_bytes() > 0);
  CHECK(bytes_to_mb(mib) == 1);
  CHECK(bytes_to_mb(mib + 1) == 2);
}

TEST_CASE("a batch runs in calls that each fit the budget", "[memory]") {
  const auto a = sd15();
  const int64_t big = 512 * 512, small = 64 * 64;
  const int64_t one = estimate_memory(a, big, 1, 2).unet_step_bytes;
  const int64_t two = estimate_memory(a, big, 2, 4).unet_step_bytes;
  REQUIRE(two > one);
  // Two guided 512x512 samples per call.
  const int64_t budget = two;
  std::vector<sample_shape> five(5, sample_shape{big, true});
  CHECK(memory_runs(a, budget, five, false) == std::vector<size_t>{2, 2, 1});
  // Without a limit, one call.
  CHECK(memory_runs(a, int64_t(1) << 50, five, false) == std::vector<size_t>{5});
  // A sample that does not fit alone still runs, alone.
  CHECK(memory_runs(a, one - 1, five, false) == std::vector<size_t>{1, 1, 1, 1, 1});
  // Small samples ride beside the large ones: their call is another one, after.
  std::vector<sample_shape> mixed = {
      {big, true}, {small, true}, {big, true}, {small, false}, {big, true}};
  CHECK(memory_runs(a, budget, mixed, false) == std::vector<size_t>{4, 1});
  // The decode has one image per sample, whatever the guidance.
  const int64_t decode_two = estimate_memory(a, big, 2, 0).vae_decode_bytes;
  CHECK(memory_runs(a, decode_two, five, true) == std::vector<size_t>{2, 2, 1});
  CHECK(memory_runs(a, budget, {}, false).empty());
}
