// UNet and VAE against diffusers' own outputs on the tiny pipelines of tests/data (see its
// README: random, perturbed weights; reference tensors computed with diffusers in fp32 on CPU).
// Tolerance: max abs error <= 1e-4 x the reference's largest magnitude.

#include <catch2/catch.hpp>
#include <string>

#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"
#include "tests/support/reference.hpp"

using muse::model::testing::check_close_at_output_scale;

namespace {

const std::string data_dir = MUSE_TEST_DATA_DIR;

}  // namespace

TEST_CASE("unet matches diffusers on tiny-sd and tiny-sd2", "[unet][parity]") {
  torch::NoGradGuard no_grad;
  for (const std::string pipeline : {"tiny-sd", "tiny-sd2"}) {
    auto unet =
        muse::model::load_unet(data_dir + "/" + pipeline + "/unet", torch::kCPU, torch::kFloat32);
    auto ref =
        muse::model::weight_map::open(data_dir + "/reference/" + pipeline + "_unet.safetensors");
    const auto context = ref.get("encoder_hidden_states");
    check_close_at_output_scale(unet->forward(ref.get("sample"), ref.get("timestep"), context),
                                ref.get("out"), pipeline + " integer timesteps");
    check_close_at_output_scale(unet->forward(ref.get("sample_f"), ref.get("timestep_f"), context),
                                ref.get("out_f"), pipeline + " fractional timesteps");
  }
}

TEST_CASE("vae matches diffusers on tiny-sd and tiny-sd2", "[vae][parity]") {
  torch::NoGradGuard no_grad;
  for (const std::string pipeline : {"tiny-sd", "tiny-sd2"}) {
    auto vae =
        muse::model::load_vae(data_dir + "/" + pipeline + "/vae", torch::kCPU, torch::kFloat32);
    auto ref =
        muse::model::weight_map::open(data_dir + "/reference/" + pipeline + "_vae.safetensors");
    CHECK(vae->scaling_factor() == Approx(0.18215));
    check_close_at_output_scale(vae->decode(ref.get("latents")), ref.get("decoded"),
                                pipeline + " decode");
    check_close_at_output_scale(vae->encode(ref.get("image")), ref.get("posterior_mean"),
                                pipeline + " encode");
  }
}
