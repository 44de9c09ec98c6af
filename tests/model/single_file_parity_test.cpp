// tests/data/tiny-sd-single.safetensors was made from tiny-sd by diffusers' own
// convert_diffusers_to_original_stable_diffusion.py: split with tiny-sd's component configs, it
// must compute what the diffusers layout computes (the same reference outputs, bit for bit the
// same weights).

#include <catch2/catch.hpp>
#include <string>

#include "model/formats/model_dir.hpp"
#include "model/formats/single_file.hpp"
#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"
#include "model/text/text_encoder.hpp"

namespace {

const std::string data_dir = MUSE_TEST_DATA_DIR;

double max_error(const torch::Tensor& got, const torch::Tensor& want) {
  REQUIRE(got.sizes() == want.sizes());
  return (got - want).abs().max().item<double>();
}

}  // namespace

TEST_CASE("single-file tiny-sd gives the diffusers layout's outputs", "[single_file][parity]") {
  torch::NoGradGuard no_grad;
  const auto parts = muse::model::load_single_file(data_dir + "/tiny-sd-single.safetensors");
  CHECK_FALSE(parts.open_clip);
  const std::string model = data_dir + "/tiny-sd";

  // Every weight arrives unchanged (the VAE attention's 1x1 kernels flattened back).
  const auto diffusers_unet =
      muse::model::weight_map::open(model + "/unet/diffusion_pytorch_model.safetensors");
  CHECK(parts.unet.names() == diffusers_unet.names());
  for (const auto& name : diffusers_unet.names())
    CHECK(torch::equal(parts.unet.get(name), diffusers_unet.get(name)));
  const auto diffusers_vae =
      muse::model::weight_map::open(model + "/vae/diffusion_pytorch_model.safetensors");
  CHECK(parts.vae.names() == diffusers_vae.names());
  for (const auto& name : diffusers_vae.names())
    CHECK(torch::equal(parts.vae.get(name), diffusers_vae.get(name)));

  auto unet = muse::model::load_unet(muse::model::read_json_file(model + "/unet/config.json"),
                                     parts.unet, torch::kCPU, torch::kFloat32);
  auto unet_ref = muse::model::weight_map::open(data_dir + "/reference/tiny-sd_unet.safetensors");
  const auto out = unet->forward(unet_ref.get("sample"), unet_ref.get("timestep"),
                                 unet_ref.get("encoder_hidden_states"));
  CHECK(max_error(out, unet_ref.get("out")) <=
        1e-4 * unet_ref.get("out").abs().max().item<double>());

  auto vae = muse::model::load_vae(muse::model::read_json_file(model + "/vae/config.json"),
                                   parts.vae, torch::kCPU, torch::kFloat32);
  auto vae_ref = muse::model::weight_map::open(data_dir + "/reference/tiny-sd_vae.safetensors");
  const auto decoded = vae->decode(vae_ref.get("latents"));
  CHECK(max_error(decoded, vae_ref.get("decoded")) <=
        1e-4 * vae_ref.get("decoded").abs().max().item<double>());

  auto text = muse::model::load_text_encoder(
      muse::model::read_json_file(model + "/text_encoder/config.json"), parts.text_encoder,
      torch::kCPU, torch::kFloat32);
  auto text_ref =
      muse::model::weight_map::open(data_dir + "/reference/tiny-sd_text_encoder.safetensors");
  const auto hidden = text->forward(text_ref.get("input_ids"));
  CHECK(max_error(hidden, text_ref.get("last_hidden_state")) <=
        1e-4 * text_ref.get("last_hidden_state").abs().max().item<double>());
}
