// Single-file checkpoints: tiny UNet/VAE weights renamed here to the original Stable Diffusion
// layout (by a table written for this tiny config) must split back into models that compute
// exactly what the originals do; OpenCLIP's fused attention splits into q/k/v; unknown keys fail.

#include <catch2/catch.hpp>
#include <map>
#include <utility>
#include <vector>

#include "model/formats/single_file.hpp"
#include "model/generator.hpp"
#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"

using muse::model::model_error;
using muse::model::weight_map;
using nlohmann::json;
using tensor_map = std::map<std::string, torch::Tensor>;
using prefix_table = std::vector<std::pair<std::string, std::string>>;

namespace {

json unet_json() {
  return json{{"sample_size", 8},
              {"block_out_channels", {16, 32}},
              {"layers_per_block", 1},
              {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
              {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
              {"cross_attention_dim", 12},
              {"attention_head_dim", 2},
              {"norm_num_groups", 8}};
}

json vae_json() {
  return json{{"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
              {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
              {"block_out_channels", {16, 32}},
              {"layers_per_block", 1},
              {"norm_num_groups", 8}};
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

std::string swap_prefixes(const std::string& name, const prefix_table& table) {
  for (const auto& [from, to] : table)
    if (starts_with(name, from)) return to + name.substr(from.size());
  FAIL("no original name for " << name);
  return name;
}

// The original layout of this tiny UNet: 1 layer per block, two levels.
const prefix_table unet_blocks = {{"conv_in.", "input_blocks.0.0."},
                                  {"time_embedding.linear_1.", "time_embed.0."},
                                  {"time_embedding.linear_2.", "time_embed.2."},
                                  {"down_blocks.0.resnets.0.", "input_blocks.1.0."},
                                  {"down_blocks.0.attentions.0.", "input_blocks.1.1."},
                                  {"down_blocks.0.downsamplers.0.conv.", "input_blocks.2.0.op."},
                                  {"down_blocks.1.resnets.0.", "input_blocks.3.0."},
                                  {"mid_block.resnets.0.", "middle_block.0."},
                                  {"mid_block.attentions.0.", "middle_block.1."},
                                  {"mid_block.resnets.1.", "middle_block.2."},
                                  {"up_blocks.0.resnets.0.", "output_blocks.0.0."},
                                  {"up_blocks.0.resnets.1.", "output_blocks.1.0."},
                                  {"up_blocks.0.upsamplers.0.", "output_blocks.1.1."},
                                  {"up_blocks.1.resnets.0.", "output_blocks.2.0."},
                                  {"up_blocks.1.attentions.0.", "output_blocks.2.1."},
                                  {"up_blocks.1.resnets.1.", "output_blocks.3.0."},
                                  {"up_blocks.1.attentions.1.", "output_blocks.3.1."},
                                  {"conv_norm_out.", "out.0."},
                                  {"conv_out.", "out.2."}};

const prefix_table unet_resnet_layers = {
    {"norm1.", "in_layers.0."},          {"conv1.", "in_layers.2."},
    {"norm2.", "out_layers.0."},         {"conv2.", "out_layers.3."},
    {"time_emb_proj.", "emb_layers.1."}, {"conv_shortcut.", "skip_connection."}};

const prefix_table vae_blocks = {
    {"encoder.down_blocks.0.resnets.0.", "encoder.down.0.block.0."},
    {"encoder.down_blocks.0.downsamplers.0.", "encoder.down.0.downsample."},
    {"encoder.down_blocks.1.resnets.0.", "encoder.down.1.block.0."},
    {"decoder.up_blocks.0.resnets.0.", "decoder.up.1.block.0."},
    {"decoder.up_blocks.0.resnets.1.", "decoder.up.1.block.1."},
    {"decoder.up_blocks.0.upsamplers.0.", "decoder.up.1.upsample."},
    {"decoder.up_blocks.1.resnets.0.", "decoder.up.0.block.0."},
    {"decoder.up_blocks.1.resnets.1.", "decoder.up.0.block.1."},
    {"encoder.mid_block.resnets.0.", "encoder.mid.block_1."},
    {"encoder.mid_block.resnets.1.", "encoder.mid.block_2."},
    {"decoder.mid_block.resnets.0.", "decoder.mid.block_1."},
    {"decoder.mid_block.resnets.1.", "decoder.mid.block_2."},
    {"encoder.mid_block.attentions.0.", "encoder.mid.attn_1."},
    {"decoder.mid_block.attentions.0.", "decoder.mid.attn_1."},
    {"encoder.conv_norm_out.", "encoder.norm_out."},
    {"decoder.conv_norm_out.", "decoder.norm_out."},
    {"", ""}};

const prefix_table vae_attention_layers = {{"group_norm.", "norm."},
                                           {"to_q.", "q."},
                                           {"to_k.", "k."},
                                           {"to_v.", "v."},
                                           {"to_out.0.", "proj_out."}};

tensor_map original_unet(torch::nn::Module& unet) {
  tensor_map out;
  for (const auto& item : unet.named_parameters()) {
    auto name = item.key();
    const auto resnet = name.find(".resnets.");
    if (resnet != std::string::npos) {
      const auto layer_start = name.find('.', resnet + 9) + 1;  // after "resnets.J."
      name =
          name.substr(0, layer_start) + swap_prefixes(name.substr(layer_start), unet_resnet_layers);
    }
    out["model.diffusion_model." + swap_prefixes(name, unet_blocks)] = item.value().clone();
  }
  return out;
}

tensor_map original_vae(torch::nn::Module& vae) {
  tensor_map out;
  for (const auto& item : vae.named_parameters()) {
    auto name = swap_prefixes(item.key(), vae_blocks);
    auto tensor = item.value().clone();
    const auto at = name.find("mid.attn_1.");
    if (at != std::string::npos) {
      const auto head = name.substr(0, at + 11);
      name = head + swap_prefixes(name.substr(at + 11), vae_attention_layers);
      // The original attention uses 1x1 convolutions.
      if (tensor.dim() == 2) tensor = tensor.unsqueeze(-1).unsqueeze(-1);
    }
    const auto shortcut = name.find("conv_shortcut.");
    if (shortcut != std::string::npos) name.replace(shortcut, 13, "nin_shortcut");
    out["first_stage_model." + name] = tensor;
  }
  return out;
}

}  // namespace

TEST_CASE("single file: original SD names split into diffusers components that compute the same",
          "[single_file]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  muse::model::unet_model unet(muse::model::unet_config::from_json(unet_json()));
  muse::model::vae_model vae(muse::model::vae_config::from_json(vae_json()));
  unet->eval();
  vae->eval();

  auto all = original_unet(*unet);
  for (auto& [name, tensor] : original_vae(*vae)) all[name] = tensor;
  all["cond_stage_model.transformer.text_model.final_layer_norm.weight"] = torch::ones({4});
  all["cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight"] =
      torch::ones({4, 4});
  all["cond_stage_model.transformer.text_model.encoder.layers.1.mlp.fc1.weight"] =
      torch::ones({4, 4});
  // Training leftovers that real checkpoints carry.
  all["alphas_cumprod"] = torch::ones({10});
  all["model_ema.decay"] = torch::ones({});
  all["first_stage_model.loss.logvar"] = torch::ones({});

  auto parts = muse::model::split_single_file(weight_map::from_tensors(all));
  CHECK_FALSE(parts.open_clip);
  CHECK(parts.text_encoder.contains("text_model.final_layer_norm.weight"));
  CHECK(parts.text_encoder.contains("text_model.encoder.layers.1.mlp.fc1.weight"));

  auto loaded_unet = muse::model::load_unet(unet_json(), parts.unet, torch::kCPU, torch::kFloat32);
  auto sample = torch::randn({2, 4, 8, 8});
  auto timesteps = torch::tensor({1.0f, 600.0f});
  auto context = torch::randn({2, 3, 12});
  CHECK(torch::equal(unet->forward(sample, timesteps, context),
                     loaded_unet->forward(sample, timesteps, context)));

  auto loaded_vae = muse::model::load_vae(vae_json(), parts.vae, torch::kCPU, torch::kFloat32);
  auto latents = torch::randn({1, 4, 4, 4});
  CHECK(torch::equal(vae->decode(latents), loaded_vae->decode(latents)));
  auto images = torch::rand({1, 3, 8, 8});
  CHECK(torch::equal(vae->encode(images), loaded_vae->encode(images)));

  auto trimmed = muse::model::split_single_file(weight_map::from_tensors(all), 1);
  CHECK(trimmed.text_encoder.contains("text_model.encoder.layers.0.mlp.fc1.weight"));
  CHECK_FALSE(trimmed.text_encoder.contains("text_model.encoder.layers.1.mlp.fc1.weight"));

  all["model.diffusion_model.label_emb.0.1.weight"] = torch::ones({2, 2});
  try {
    muse::model::split_single_file(weight_map::from_tensors(all));
    FAIL("split a checkpoint with a key it cannot map");
  } catch (const model_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("model.diffusion_model.label_emb.0.1.weight"));
  }
}

TEST_CASE("single file: SD2's OpenCLIP text tower maps to CLIP names with q/k/v split",
          "[single_file]") {
  const std::string head = "cond_stage_model.model.";
  tensor_map all;
  all["model.diffusion_model.out.2.weight"] = torch::zeros({4, 8, 3, 3});
  all["first_stage_model.decoder.conv_out.weight"] = torch::zeros({3, 8, 3, 3});
  auto fused = torch::arange(3 * 4 * 4, torch::kFloat32).reshape({12, 4});
  for (int layer = 0; layer < 3; ++layer) {
    const auto block = head + "transformer.resblocks." + std::to_string(layer) + ".";
    all[block + "attn.in_proj_weight"] = fused;
    all[block + "attn.in_proj_bias"] = torch::arange(12, torch::kFloat32);
    all[block + "attn.out_proj.weight"] = torch::zeros({4, 4});
    all[block + "ln_1.weight"] = torch::ones({4});
    all[block + "ln_2.bias"] = torch::ones({4});
    all[block + "mlp.c_fc.weight"] = torch::ones({16, 4});
    all[block + "mlp.c_proj.bias"] = torch::ones({4});
  }
  all[head + "positional_embedding"] = torch::zeros({77, 4});
  all[head + "token_embedding.weight"] = torch::zeros({10, 4});
  all[head + "ln_final.weight"] = torch::ones({4});
  all[head + "text_projection"] = torch::zeros({4, 4});
  all[head + "logit_scale"] = torch::ones({});

  auto parts = muse::model::split_single_file(weight_map::from_tensors(all), 2);
  CHECK(parts.open_clip);
  const auto& text = parts.text_encoder;
  const std::string layer = "text_model.encoder.layers.1.";
  CHECK(torch::equal(text.get(layer + "self_attn.q_proj.weight"), fused.narrow(0, 0, 4)));
  CHECK(torch::equal(text.get(layer + "self_attn.k_proj.weight"), fused.narrow(0, 4, 4)));
  CHECK(torch::equal(text.get(layer + "self_attn.v_proj.weight"), fused.narrow(0, 8, 4)));
  CHECK(text.get(layer + "self_attn.v_proj.bias")[0].item<float>() == 8.0f);
  for (const char* name : {"self_attn.out_proj.weight", "layer_norm1.weight", "layer_norm2.bias",
                           "mlp.fc1.weight", "mlp.fc2.bias"})
    CHECK(text.contains(layer + name));
  CHECK(text.contains("text_model.embeddings.position_embedding.weight"));
  CHECK(text.contains("text_model.embeddings.token_embedding.weight"));
  CHECK(text.contains("text_model.final_layer_norm.weight"));
  CHECK_FALSE(text.contains("text_model.encoder.layers.2.mlp.fc1.weight"));
  CHECK(parts.unet.contains("conv_out.weight"));
  CHECK(parts.vae.contains("decoder.conv_out.weight"));

  all[head + "transformer.resblocks.0.attn.mystery"] = torch::ones({1});
  CHECK_THROWS_AS(muse::model::split_single_file(weight_map::from_tensors(all)), model_error);
}
