// The SDXL UNet and VAE against diffusers' own outputs on tests/data/tiny-sdxl (a tiny random
// StableDiffusionXLPipeline; see tests/data/README.md and tools/reference/build_sdxl.py).
// Tolerance as for SD1/2: max abs error <= 1e-4 x the reference's largest magnitude.

#include <catch2/catch.hpp>
#include <string>

#include "model/architecture.hpp"
#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"
#include "tests/support/reference.hpp"

using muse::model::testing::check_close_at_output_scale;

namespace {

const std::string data_dir = MUSE_TEST_DATA_DIR;

}  // namespace

TEST_CASE("sdxl: tiny-sdxl is detected as SDXL", "[architecture][sdxl]") {
  CHECK(muse::model::detect_model_architecture(data_dir + "/tiny-sdxl") ==
        muse::model::architecture::sdxl);
}

TEST_CASE("sdxl unet matches diffusers with text_time added conditioning", "[unet][sdxl][parity]") {
  torch::NoGradGuard no_grad;
  auto unet = muse::model::load_unet(data_dir + "/tiny-sdxl/unet", torch::kCPU, torch::kFloat32);
  auto ref = muse::model::weight_map::open(data_dir + "/reference/tiny-sdxl_unet.safetensors");
  const auto context = ref.get("encoder_hidden_states");
  const muse::model::text_time_conditioning added{ref.get("text_embeds"), ref.get("time_ids")};
  check_close_at_output_scale(unet->forward(ref.get("sample"), ref.get("timestep"), context, added),
                              ref.get("out"), "integer timesteps");
  check_close_at_output_scale(
      unet->forward(ref.get("sample_f"), ref.get("timestep_f"), context, added), ref.get("out_f"),
      "fractional timesteps");
  // One row (the second of the inputs above) at a non-square size.
  const muse::model::text_time_conditioning row{added.text_embeds.narrow(0, 1, 1),
                                                added.time_ids.narrow(0, 1, 1)};
  check_close_at_output_scale(
      unet->forward(ref.get("sample_nonsquare"), ref.get("timestep_nonsquare"),
                    context.narrow(0, 1, 1), row),
      ref.get("out_nonsquare"), "non-square");
  // The other row's time ids give another output, as in diffusers.
  const muse::model::text_time_conditioning flipped{added.text_embeds, added.time_ids.flip(0)};
  const auto other = unet->forward(ref.get("sample"), ref.get("timestep"), context, flipped);
  CHECK((other - ref.get("out")).abs().max().item<double>() > 1e-3);
}

TEST_CASE("sdxl vae matches diffusers, also on the force_upcast path", "[vae][sdxl][parity]") {
  torch::NoGradGuard no_grad;
  auto vae = muse::model::load_vae(data_dir + "/tiny-sdxl/vae", torch::kCPU, torch::kFloat32);
  auto ref = muse::model::weight_map::open(data_dir + "/reference/tiny-sdxl_vae.safetensors");
  CHECK(vae->scaling_factor() == 0.13025);
  CHECK(vae->force_upcast());
  CHECK(vae->config().upcasts(torch::kFloat16));
  const auto latents = ref.get("latents");
  check_close_at_output_scale(vae->decode(latents), ref.get("decoded"), "decode");
  check_close_at_output_scale(vae->decode(latents / vae->scaling_factor()),
                              ref.get("pipeline_decoded"), "decode of scaled latents");
  // A float16 pipeline's latents, scaled in float32 and decoded by the float32 (upcast) VAE, as
  // diffusers' StableDiffusionXLPipeline does with force_upcast.
  const auto half = latents.to(torch::kFloat16);
  check_close_at_output_scale(vae->decode(half.to(torch::kFloat32) / vae->scaling_factor()),
                              ref.get("upcast_decoded"), "float16 latents, float32 VAE");
  check_close_at_output_scale(vae->encode(ref.get("image")), ref.get("posterior_mean"), "encode");
}
