// AutoencoderKL on tiny configs built here: config parsing and its errors, diffusers parameter
// names, decode/encode shapes, and loading (strict, old attention names accepted).

#include <catch2/catch.hpp>
#include <map>

#include "model/generator.hpp"
#include "model/networks/vae.hpp"

using muse::model::model_error;
using muse::model::vae_config;
using muse::model::vae_model;
using nlohmann::json;

namespace {

json tiny_vae_json() {
  return json{{"_class_name", "AutoencoderKL"},
              {"in_channels", 3},
              {"out_channels", 3},
              {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
              {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
              {"block_out_channels", {16, 32}},
              {"layers_per_block", 1},
              {"act_fn", "silu"},
              {"latent_channels", 4},
              {"norm_num_groups", 8},
              {"sample_size", 16},
              {"force_upcast", true},
              {"scaling_factor", 0.5}};
}

std::map<std::string, torch::Tensor> state_of(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : module.named_parameters()) tensors[item.key()] = item.value().clone();
  return tensors;
}

}  // namespace

TEST_CASE("vae config: values, defaults and rejected settings", "[vae]") {
  auto config = vae_config::from_json(tiny_vae_json());
  CHECK(config.scaling_factor == 0.5);
  CHECK(config.block_out_channels == std::vector<int>{16, 32});
  auto defaults = tiny_vae_json();
  defaults.erase("scaling_factor");
  CHECK(vae_config::from_json(defaults).scaling_factor == Approx(0.18215));

  auto expect_error = [](json bad, const std::string& needle) {
    try {
      vae_config::from_json(bad);
      FAIL("accepted " << needle);
    } catch (const model_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  auto bad = tiny_vae_json();
  bad["shift_factor"] = 0.1;
  expect_error(bad, "shift_factor");
  bad = tiny_vae_json();
  bad["up_block_types"] = {"AttnUpDecoderBlock2D", "UpDecoderBlock2D"};
  expect_error(bad, "AttnUpDecoderBlock2D");
  bad = tiny_vae_json();
  bad["mystery"] = true;
  expect_error(bad, "mystery");
  bad = tiny_vae_json();
  bad["block_out_channels"] = {16, 32, 64};
  expect_error(bad, "block_out_channels");
}

TEST_CASE("vae decodes latents to images and encodes images to latent means", "[vae]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  vae_model vae(vae_config::from_json(tiny_vae_json()));
  vae->eval();
  CHECK(vae->downscale_factor() == 2);
  CHECK(vae->latent_channels() == 4);
  CHECK(vae->scaling_factor() == 0.5);
  auto images = vae->decode(torch::randn({2, 4, 8, 6}));
  CHECK(images.sizes() == torch::IntArrayRef({2, 3, 16, 12}));
  CHECK(images.isfinite().all().item<bool>());
  auto latents = vae->encode(torch::rand({2, 3, 16, 12}) * 2 - 1);
  CHECK(latents.sizes() == torch::IntArrayRef({2, 4, 8, 6}));
  CHECK_THROWS_AS(vae->decode(torch::randn({1, 3, 8, 8})), model_error);
  CHECK_THROWS_AS(vae->encode(torch::randn({1, 3, 15, 16})), model_error);
}

TEST_CASE("vae parameters carry the diffusers names and load strictly", "[vae]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  vae_model source(vae_config::from_json(tiny_vae_json()));
  auto tensors = state_of(*source);
  for (const char* name :
       {"encoder.conv_in.weight", "encoder.down_blocks.0.resnets.0.norm1.weight",
        "encoder.down_blocks.0.downsamplers.0.conv.weight",
        "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
        "encoder.mid_block.attentions.0.group_norm.weight",
        "encoder.mid_block.attentions.0.to_q.bias", "encoder.mid_block.resnets.1.conv2.weight",
        "encoder.conv_norm_out.bias", "quant_conv.weight", "post_quant_conv.bias",
        "decoder.conv_in.weight", "decoder.mid_block.attentions.0.to_out.0.weight",
        "decoder.up_blocks.0.resnets.1.conv1.weight",
        "decoder.up_blocks.0.upsamplers.0.conv.weight",
        "decoder.up_blocks.1.resnets.0.conv_shortcut.weight", "decoder.conv_norm_out.weight",
        "decoder.conv_out.bias"})
    CHECK(tensors.count(name) == 1);
  CHECK(tensors.count("decoder.up_blocks.1.upsamplers.0.conv.weight") == 0);

  auto loaded =
      muse::model::load_vae(tiny_vae_json(), muse::model::weight_map::from_tensors(tensors),
                            torch::kCPU, torch::kFloat32);
  auto latents = torch::randn({1, 4, 4, 4});
  CHECK(torch::equal(source->decode(latents), loaded->decode(latents)));

  // Files from before diffusers 0.14 call the attention layers query/key/value/proj_attn.
  auto old_names = tensors;
  for (const auto& [modern, old] : std::map<std::string, std::string>{
           {"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}})
    for (const char* half : {"encoder", "decoder"})
      for (const char* kind : {"weight", "bias"}) {
        const std::string prefix = std::string(half) + ".mid_block.attentions.0.";
        old_names[prefix + old + "." + kind] = old_names.at(prefix + modern + "." + kind);
        old_names.erase(prefix + modern + "." + kind);
      }
  auto from_old =
      muse::model::load_vae(tiny_vae_json(), muse::model::weight_map::from_tensors(old_names),
                            torch::kCPU, torch::kFloat32);
  CHECK(torch::equal(source->decode(latents), from_old->decode(latents)));

  tensors["decoder.extra.weight"] = torch::zeros({1});
  CHECK_THROWS_AS(
      muse::model::load_vae(tiny_vae_json(), muse::model::weight_map::from_tensors(tensors),
                            torch::kCPU, torch::kFloat32),
      model_error);
}
