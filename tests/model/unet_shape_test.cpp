// UNet2DConditionModel on tiny configs built here: config parsing and its errors, the diffusers
// parameter names, output shapes (also at sizes that leave odd skips), per-sample timesteps and
// a weight round trip through load_module.

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "model/generator.hpp"
#include "model/networks/unet.hpp"

using muse::model::model_error;
using muse::model::unet_config;
using muse::model::unet_model;
using nlohmann::json;

namespace {

json tiny_unet_json() {
  return json{{"_class_name", "UNet2DConditionModel"},
              {"_diffusers_version", "0.30.0"},
              {"sample_size", 8},
              {"in_channels", 4},
              {"out_channels", 4},
              {"block_out_channels", {16, 32}},
              {"layers_per_block", 1},
              {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
              {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
              {"mid_block_type", "UNetMidBlock2DCrossAttn"},
              {"cross_attention_dim", 12},
              {"attention_head_dim", 2},
              {"norm_num_groups", 8},
              {"act_fn", "silu"},
              {"class_embed_type", nullptr},
              {"dropout", 0.0}};
}

unet_model tiny_unet(const json& config, uint64_t seed = 1) {
  torch::manual_seed(seed);
  unet_model model(unet_config::from_json(config));
  model->eval();
  return model;
}

std::set<std::string> parameter_names(torch::nn::Module& module) {
  std::set<std::string> names;
  for (const auto& item : module.named_parameters()) names.insert(item.key());
  return names;
}

}  // namespace

TEST_CASE("unet config: the attention_head_dim quirk and per-block lists", "[unet]") {
  auto config = unet_config::from_json(tiny_unet_json());
  CHECK(config.attention_heads == std::vector<int>{2, 2});
  CHECK(config.cross_attention_dim == std::vector<int>{12, 12});
  CHECK(config.layers_per_block == std::vector<int>{1, 1});
  CHECK(config.downsamplings() == 1);

  auto sd2 = tiny_unet_json();
  sd2["attention_head_dim"] = {2, 4};
  sd2["use_linear_projection"] = true;
  config = unet_config::from_json(sd2);
  CHECK(config.attention_heads == std::vector<int>{2, 4});
  CHECK(config.use_linear_projection);

  auto explicit_heads = tiny_unet_json();
  explicit_heads["num_attention_heads"] = 4;
  CHECK(unet_config::from_json(explicit_heads).attention_heads == std::vector<int>{4, 4});
}

TEST_CASE("unet config: unsupported settings fail naming the key", "[unet]") {
  auto expect_error = [](json config, const std::string& needle) {
    try {
      unet_config::from_json(config);
      FAIL("accepted a config it should reject: " << needle);
    } catch (const model_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  auto config = tiny_unet_json();
  config["class_embed_type"] = "timestep";
  expect_error(config, "class_embed_type");
  config = tiny_unet_json();
  config["addition_embed_type"] = "text";
  expect_error(config, "addition_embed_type");
  config = tiny_unet_json();
  config["down_block_types"] = {"SimpleCrossAttnDownBlock2D", "DownBlock2D"};
  expect_error(config, "SimpleCrossAttnDownBlock2D");
  config = tiny_unet_json();
  config["resnet_time_scale_shift"] = "scale_shift";
  expect_error(config, "resnet_time_scale_shift");
  config = tiny_unet_json();
  config["some_new_option"] = 3;
  expect_error(config, "some_new_option");
  config = tiny_unet_json();
  config["act_fn"] = "gelu";
  expect_error(config, "act_fn");
  config = tiny_unet_json();
  config["layers_per_block"] = {1, 1, 1};
  expect_error(config, "layers_per_block");
  config = tiny_unet_json();
  config["attention_head_dim"] = 3;  // 16 channels do not split into 3 heads
  expect_error(config, "attention_head_dim");
}

TEST_CASE("unet parameters carry the diffusers state dict names", "[unet]") {
  auto model = tiny_unet(tiny_unet_json());
  const auto names = parameter_names(*model);
  for (const char* name : {"conv_in.weight",
                           "time_embedding.linear_1.weight",
                           "time_embedding.linear_2.bias",
                           "down_blocks.0.resnets.0.norm1.weight",
                           "down_blocks.0.resnets.0.time_emb_proj.weight",
                           "down_blocks.0.attentions.0.norm.weight",
                           "down_blocks.0.attentions.0.proj_in.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.bias",
                           "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.norm3.weight",
                           "down_blocks.0.downsamplers.0.conv.weight",
                           "down_blocks.1.resnets.0.conv_shortcut.weight",
                           "mid_block.resnets.1.conv2.weight",
                           "mid_block.attentions.0.proj_out.weight",
                           "up_blocks.0.resnets.1.conv_shortcut.weight",
                           "up_blocks.0.upsamplers.0.conv.weight",
                           "up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_v.weight",
                           "conv_norm_out.weight",
                           "conv_out.bias"})
    CHECK(names.count(name) == 1);
  // Self-attention projections have no bias in diffusers; the VAE-only names do not appear.
  CHECK(names.count("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.bias") == 0);
  CHECK(names.count("down_blocks.1.attentions.0.norm.weight") == 0);
  CHECK(names.count("up_blocks.1.upsamplers.0.conv.weight") == 0);
  // Conv projections (SD1) become Linear ones with use_linear_projection (SD2).
  CHECK(model->named_parameters()["down_blocks.0.attentions.0.proj_in.weight"].dim() == 4);
  auto sd2 = tiny_unet_json();
  sd2["use_linear_projection"] = true;
  auto linear = tiny_unet(sd2);
  CHECK(linear->named_parameters()["down_blocks.0.attentions.0.proj_in.weight"].dim() == 2);
}

TEST_CASE("unet output keeps the sample's shape, also at odd latent sizes", "[unet]") {
  torch::NoGradGuard no_grad;
  auto model = tiny_unet(tiny_unet_json());
  auto context = torch::randn({2, 5, 12});
  auto timesteps = torch::tensor({10.5f, 900.0f});
  for (int64_t size : {8, 6, 5}) {
    auto sample = torch::randn({2, 4, size, size + 2});
    auto out = model->forward(sample, timesteps, context);
    CHECK(out.sizes() == sample.sizes());
    CHECK(out.isfinite().all().item<bool>());
  }
  auto sd2 = tiny_unet_json();
  sd2["use_linear_projection"] = true;
  sd2["attention_head_dim"] = {2, 4};
  sd2["transformer_layers_per_block"] = 2;
  sd2["upcast_attention"] = true;
  auto linear = tiny_unet(sd2);
  auto sample = torch::randn({2, 4, 8, 8});
  CHECK(linear->forward(sample, timesteps, context).sizes() == sample.sizes());
}

TEST_CASE("unet: each sample of a batch uses its own timestep", "[unet]") {
  torch::NoGradGuard no_grad;
  auto model = tiny_unet(tiny_unet_json());
  auto sample = torch::randn({2, 4, 8, 8});
  auto context = torch::randn({2, 5, 12});
  auto together = model->forward(sample, torch::tensor({3.0f, 777.25f}), context);
  auto first =
      model->forward(sample.narrow(0, 0, 1), torch::tensor({3.0f}), context.narrow(0, 0, 1));
  auto second =
      model->forward(sample.narrow(0, 1, 1), torch::tensor({777.25f}), context.narrow(0, 1, 1));
  CHECK(torch::allclose(together.narrow(0, 0, 1), first, 1e-4, 1e-5));
  CHECK(torch::allclose(together.narrow(0, 1, 1), second, 1e-4, 1e-5));
  // The timestep does reach the output, and a scalar timestep broadcasts over the batch.
  CHECK_FALSE(torch::allclose(first, model->forward(sample.narrow(0, 0, 1), torch::tensor({500.0f}),
                                                    context.narrow(0, 0, 1))));
  auto broadcast = model->forward(sample, torch::tensor(3.0f), context);
  CHECK(torch::allclose(broadcast.narrow(0, 0, 1), first, 1e-4, 1e-5));
  CHECK_THROWS_AS(model->forward(sample, torch::tensor({1.0f, 2.0f, 3.0f}), context), model_error);
  CHECK_THROWS_AS(model->forward(torch::randn({2, 3, 8, 8}), torch::tensor({1.0f, 2.0f}), context),
                  model_error);
}

TEST_CASE("timestep embedding follows diffusers' get_timestep_embedding", "[unet]") {
  auto emb = muse::model::timestep_embedding(torch::tensor({1.0f, 0.0f}), 4, true, 0.0);
  // half = 2: frequencies exp(-ln(10000) * [0, 1] / 2) = [1, 0.01]; flip puts cos first.
  const double expected[] = {std::cos(1.0), std::cos(0.01), std::sin(1.0), std::sin(0.01)};
  for (int i = 0; i < 4; ++i) CHECK(emb[0][i].item<double>() == Approx(expected[i]).epsilon(1e-6));
  CHECK(emb[1][0].item<double>() == Approx(1.0));
  CHECK(emb[1][2].item<double>() == Approx(0.0));
  auto shifted = muse::model::timestep_embedding(torch::tensor({2.0f}), 4, false, 1.0);
  // freq_shift 1: exponent / (half - 1) -> frequencies [1, 1e-4]; sin first.
  CHECK(shifted[0][1].item<double>() == Approx(std::sin(2e-4)).epsilon(1e-5));
  CHECK(shifted[0][2].item<double>() == Approx(std::cos(2.0)).epsilon(1e-6));
}

TEST_CASE("unet weights round-trip through load_module", "[unet]") {
  torch::NoGradGuard no_grad;
  auto source = tiny_unet(tiny_unet_json(), 1);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : source->named_parameters()) tensors[item.key()] = item.value().clone();
  auto weights = muse::model::weight_map::from_tensors(tensors);
  auto loaded = muse::model::load_unet(tiny_unet_json(), weights, torch::kCPU, torch::kFloat32);
  auto sample = torch::randn({1, 4, 8, 8});
  auto context = torch::randn({1, 5, 12});
  auto t = torch::tensor({42.0f});
  CHECK(torch::equal(source->forward(sample, t, context), loaded->forward(sample, t, context)));

  tensors.erase("mid_block.resnets.0.conv1.weight");
  try {
    muse::model::load_unet(tiny_unet_json(), muse::model::weight_map::from_tensors(tensors),
                           torch::kCPU, torch::kFloat32);
    FAIL("loaded a UNet with a missing weight");
  } catch (const model_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("mid_block.resnets.0.conv1.weight"));
  }
}
