// The SDXL UNet on a tiny config of SDXL's shape (a plain DownBlock2D first, per-block
// transformer depths, attention_head_dim as head counts, "text_time" added conditioning): config
// parsing and its errors, parameter names, the forward with added conditioning, the single-file
// names of add_embedding, and the VAE's force_upcast.

#include <catch2/catch.hpp>
#include <map>

#include "model/formats/single_file.hpp"
#include "model/generator.hpp"
#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"

using muse::model::model_error;
using muse::model::text_time_conditioning;
using muse::model::unet_config;
using muse::model::unet_model;
using muse::model::weight_map;
using nlohmann::json;

namespace {

// 6 time ids x 4 + a pooled embedding of 10.
json tiny_sdxl_unet_json() {
  return json{{"_class_name", "UNet2DConditionModel"},
              {"sample_size", 8},
              {"in_channels", 4},
              {"out_channels", 4},
              {"block_out_channels", {16, 32}},
              {"layers_per_block", 1},
              {"down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D"}},
              {"up_block_types", {"CrossAttnUpBlock2D", "UpBlock2D"}},
              {"transformer_layers_per_block", {1, 2}},
              {"attention_head_dim", {2, 4}},
              {"num_attention_heads", nullptr},
              {"cross_attention_dim", 24},
              {"use_linear_projection", true},
              {"norm_num_groups", 8},
              {"addition_embed_type", "text_time"},
              {"addition_embed_type_num_heads", 64},
              {"addition_time_embed_dim", 4},
              {"projection_class_embeddings_input_dim", 34},
              {"class_embed_type", nullptr}};
}

unet_model tiny_unet(const json& config, uint64_t seed = 1) {
  torch::manual_seed(seed);
  unet_model model(unet_config::from_json(config));
  model->eval();
  return model;
}

void expect_error(const json& config, const std::vector<std::string>& needles) {
  try {
    unet_config::from_json(config);
    FAIL("accepted a config it should reject: " << needles.front());
  } catch (const model_error& e) {
    for (const auto& needle : needles) CHECK_THAT(e.what(), Catch::Contains(needle));
  }
}

struct inputs {
  torch::Tensor sample, timesteps, context;
  text_time_conditioning added;
};

inputs tiny_inputs() {
  torch::manual_seed(7);
  inputs in;
  in.sample = torch::randn({2, 4, 8, 8});
  in.timesteps = torch::tensor({999.0f, 20.5f});
  in.context = torch::randn({2, 5, 24});
  in.added.text_embeds = torch::randn({2, 10});
  in.added.time_ids = torch::tensor(
      {{64.0f, 64.0f, 0.0f, 0.0f, 64.0f, 64.0f}, {64.0f, 48.0f, 0.0f, 0.0f, 64.0f, 48.0f}});
  return in;
}

torch::Tensor run(unet_model& unet, const inputs& in) {
  return unet->forward(in.sample, in.timesteps, in.context, in.added);
}

}  // namespace

TEST_CASE("sdxl unet config: text_time, per-block transformer depths and head counts",
          "[unet][sdxl]") {
  const auto config = unet_config::from_json(tiny_sdxl_unet_json());
  CHECK(config.text_time());
  CHECK(config.addition_time_embed_dim == 4);
  CHECK(config.projection_class_embeddings_input_dim == 34);
  CHECK(config.text_embeds_dim() == 10);
  CHECK(config.down_block_types == std::vector<std::string>{"DownBlock2D", "CrossAttnDownBlock2D"});
  CHECK(config.transformer_layers_per_block == std::vector<int>{1, 2});
  // attention_head_dim counts heads when num_attention_heads is null (diffusers' quirk).
  CHECK(config.attention_heads == std::vector<int>{2, 4});
  CHECK(config.cross_attention_dim == std::vector<int>{24, 24});
  CHECK_FALSE(unet_config::from_json(json{{"down_block_types", {"DownBlock2D"}},
                                          {"up_block_types", {"UpBlock2D"}},
                                          {"block_out_channels", {32}}})
                  .text_time());
}

TEST_CASE("sdxl unet config: other added embeddings and inconsistent sizes fail by name",
          "[unet][sdxl]") {
  auto config = tiny_sdxl_unet_json();
  config["addition_embed_type"] = "text_image";
  expect_error(config, {"addition_embed_type", "text_image", "text_time"});
  config = tiny_sdxl_unet_json();
  config["addition_embed_type"] = "image_hint";
  expect_error(config, {"addition_embed_type", "image_hint"});
  config = tiny_sdxl_unet_json();
  config.erase("addition_time_embed_dim");
  expect_error(config, {"addition_time_embed_dim", "positive"});
  config = tiny_sdxl_unet_json();
  config["projection_class_embeddings_input_dim"] = 24;  // 6 x 4: no room for text_embeds
  expect_error(config, {"projection_class_embeddings_input_dim", "24"});
  config = tiny_sdxl_unet_json();
  config.erase("addition_embed_type");  // the sizes mean nothing without text_time
  expect_error(config, {"addition_time_embed_dim"});
  config = tiny_sdxl_unet_json();
  config["transformer_layers_per_block"] = {1, 2, 3};
  expect_error(config, {"transformer_layers_per_block"});
}

TEST_CASE("sdxl unet parameters: add_embedding, no attention in the plain first block",
          "[unet][sdxl]") {
  auto unet = tiny_unet(tiny_sdxl_unet_json());
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& item : unet->named_parameters()) shapes[item.key()] = item.value().sizes().vec();
  CHECK(shapes["add_embedding.linear_1.weight"] == std::vector<int64_t>{64, 34});
  CHECK(shapes["add_embedding.linear_2.weight"] == std::vector<int64_t>{64, 64});
  CHECK(shapes.count("down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight") == 1);
  CHECK(shapes.count("mid_block.attentions.0.transformer_blocks.1.ff.net.2.weight") == 1);
  CHECK(shapes.count("up_blocks.0.attentions.1.transformer_blocks.1.norm3.weight") == 1);
  CHECK(shapes["down_blocks.1.attentions.0.proj_in.weight"] == std::vector<int64_t>{32, 32});
  for (const auto& [name, shape] : shapes) {
    CHECK_FALSE(name.rfind("down_blocks.0.attentions", 0) == 0);
    CHECK_FALSE(name.rfind("up_blocks.1.attentions", 0) == 0);
    CHECK(name.find("transformer_blocks.2") == std::string::npos);
  }
}

TEST_CASE("sdxl unet forward: time_ids and text_embeds condition each row", "[unet][sdxl]") {
  torch::NoGradGuard no_grad;
  auto unet = tiny_unet(tiny_sdxl_unet_json());
  const auto in = tiny_inputs();
  const auto out = run(unet, in);
  REQUIRE(out.sizes() == in.sample.sizes());
  CHECK(out.isfinite().all().item<bool>());

  // Another crop for row 1 changes row 1 only.
  auto cropped = in;
  cropped.added.time_ids = in.added.time_ids.clone();
  cropped.added.time_ids[1][2] = 16.0f;
  const auto out_cropped = run(unet, cropped);
  CHECK(torch::allclose(out_cropped[0], out[0], 1e-5, 1e-6));
  CHECK((out_cropped[1] - out[1]).abs().max().item<float>() > 1e-4f);

  auto other_text = in;
  other_text.added.text_embeds = in.added.text_embeds.clone();
  other_text.added.text_embeds[0] += 1.0f;
  const auto out_text = run(unet, other_text);
  CHECK((out_text[0] - out[0]).abs().max().item<float>() > 1e-4f);
  CHECK(torch::allclose(out_text[1], out[1], 1e-5, 1e-6));

  // Rows alone give what they give in the batch.
  inputs first = in;
  first.sample = in.sample.narrow(0, 0, 1);
  first.timesteps = in.timesteps.narrow(0, 0, 1);
  first.context = in.context.narrow(0, 0, 1);
  first.added = {in.added.text_embeds.narrow(0, 0, 1), in.added.time_ids.narrow(0, 0, 1)};
  CHECK(torch::allclose(run(unet, first)[0], out[0], 1e-4, 1e-5));
}

TEST_CASE("sdxl unet forward: text embeddings first, then the time ids' embeddings",
          "[unet][sdxl]") {
  torch::NoGradGuard no_grad;
  auto unet = tiny_unet(tiny_sdxl_unet_json());
  const auto in = tiny_inputs();
  auto linear_1 = unet->named_parameters()["add_embedding.linear_1.weight"];
  // Zero the columns diffusers feeds with the time ids (after the 10 text features): the time
  // ids then change nothing, while the text still does.
  linear_1.narrow(1, 10, 24).zero_();
  auto moved = in;
  moved.added.time_ids = in.added.time_ids * 2 + 3;
  CHECK(torch::allclose(run(unet, moved), run(unet, in), 1e-5, 1e-6));
  // And the other way round.
  auto unet_time = tiny_unet(tiny_sdxl_unet_json());
  unet_time->named_parameters()["add_embedding.linear_1.weight"].narrow(1, 0, 10).zero_();
  auto other_text = in;
  other_text.added.text_embeds = in.added.text_embeds + 1;
  CHECK(torch::allclose(run(unet_time, other_text), run(unet_time, in), 1e-5, 1e-6));
  CHECK_FALSE(torch::allclose(run(unet_time, moved), run(unet_time, in), 1e-5, 1e-6));

  // With add_embedding's output zeroed the model is the same UNet without text_time.
  auto plain_json = tiny_sdxl_unet_json();
  for (const char* key :
       {"addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim"})
    plain_json.erase(key);
  auto plain = tiny_unet(plain_json, 2);
  auto silent = tiny_unet(tiny_sdxl_unet_json(), 3);
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : plain->named_parameters()) state[item.key()] = item.value();
  for (const auto& item : silent->named_parameters())
    if (item.key().rfind("add_embedding.", 0) == 0) state[item.key()] = item.value().clone();
  muse::model::load_module(*silent, weight_map::from_tensors(state));
  silent->named_parameters()["add_embedding.linear_2.weight"].zero_();
  silent->named_parameters()["add_embedding.linear_2.bias"].zero_();
  CHECK(torch::allclose(run(silent, in), plain->forward(in.sample, in.timesteps, in.context), 1e-5,
                        1e-6));
}

TEST_CASE("sdxl unet forward: missing or mis-sized added conditioning is an error",
          "[unet][sdxl]") {
  torch::NoGradGuard no_grad;
  auto unet = tiny_unet(tiny_sdxl_unet_json());
  const auto in = tiny_inputs();
  CHECK_THROWS_WITH(unet->forward(in.sample, in.timesteps, in.context),
                    Catch::Contains("text_embeds and time_ids"));
  auto bad = in;
  bad.added.text_embeds = torch::randn({2, 12});
  CHECK_THROWS_WITH(run(unet, bad), Catch::Contains("projection_class_embeddings_input_dim"));
  bad = in;
  bad.added.time_ids = in.added.time_ids.narrow(0, 0, 1);
  CHECK_THROWS_AS(run(unet, bad), model_error);

  auto plain_json = tiny_sdxl_unet_json();
  for (const char* key :
       {"addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim"})
    plain_json.erase(key);
  auto plain = tiny_unet(plain_json);
  CHECK_THROWS_WITH(run(plain, in), Catch::Contains("without addition_embed_type"));
}

TEST_CASE("single file: SDXL's label_emb is the UNet's add_embedding", "[single_file][sdxl]") {
  std::map<std::string, torch::Tensor> all;
  const auto linear_1 = torch::randn({64, 34});
  const auto bias_2 = torch::randn({64});
  all["model.diffusion_model.label_emb.0.0.weight"] = linear_1;
  all["model.diffusion_model.label_emb.0.2.bias"] = bias_2;
  all["model.diffusion_model.out.2.weight"] = torch::zeros({4, 16, 3, 3});
  all["first_stage_model.decoder.conv_out.weight"] = torch::zeros({3, 8, 3, 3});
  const auto parts = muse::model::split_single_file(weight_map::from_tensors(all));
  CHECK(torch::equal(parts.unet.get("add_embedding.linear_1.weight"), linear_1));
  CHECK(torch::equal(parts.unet.get("add_embedding.linear_2.bias"), bias_2));
}

TEST_CASE("vae force_upcast: read from the config, float32 decoding of float16 latents",
          "[vae][sdxl]") {
  torch::NoGradGuard no_grad;
  json config = {{"block_out_channels", {16, 32}},
                 {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
                 {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
                 {"norm_num_groups", 8},
                 {"scaling_factor", 0.13025},
                 {"force_upcast", true}};
  auto parsed = muse::model::vae_config::from_json(config);
  CHECK(parsed.scaling_factor == 0.13025);
  CHECK(parsed.force_upcast);
  CHECK(parsed.upcasts(torch::kFloat16));
  CHECK_FALSE(parsed.upcasts(torch::kFloat32));
  CHECK_FALSE(parsed.upcasts(torch::kBFloat16));
  config["force_upcast"] = false;
  CHECK_FALSE(muse::model::vae_config::from_json(config).upcasts(torch::kFloat16));
  config.erase("force_upcast");  // diffusers' AutoencoderKL default
  CHECK(muse::model::vae_config::from_json(config).force_upcast);
  config["force_upcast"] = "yes";
  CHECK_THROWS_WITH(muse::model::vae_config::from_json(config), Catch::Contains("force_upcast"));

  // An upcast VAE (float32 weights) takes the pipeline's float16 latents as they are.
  config["force_upcast"] = true;
  torch::manual_seed(5);
  muse::model::vae_model vae(muse::model::vae_config::from_json(config));
  vae->eval();
  CHECK(vae->force_upcast());
  const auto latents = torch::randn({1, 4, 4, 4}).to(torch::kFloat16);
  const auto images = vae->decode(latents);
  CHECK(images.scalar_type() == torch::kFloat32);
  CHECK(torch::equal(images, vae->decode(latents.to(torch::kFloat32))));
}
