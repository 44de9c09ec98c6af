// Architecture detection on synthetic model_index.json / unet config / single-file key sets: the
// three supported families, and every unsupported kind failing with what it is and what is
// supported. Also on the shipped tiny pipelines, and through load_generator.

#include "model/architecture.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "model/generator.hpp"
#include "tiny_pipeline.hpp"

using muse::model::architecture;
using muse::model::detect_architecture;
using muse::model::detect_model_architecture;
using muse::model::detect_single_file_architecture;
using muse::model::detect_unet_architecture;
using muse::model::model_error;
using muse::model::tensor_shapes;
using nlohmann::json;

namespace {

const std::string data_dir = MUSE_TEST_DATA_DIR;

json sd_index(const std::string& pipeline = "StableDiffusionPipeline") {
  return json{{"_class_name", pipeline},
              {"tokenizer", {"transformers", "CLIPTokenizer"}},
              {"text_encoder", {"transformers", "CLIPTextModel"}},
              {"unet", {"diffusers", "UNet2DConditionModel"}},
              {"vae", {"diffusers", "AutoencoderKL"}},
              {"scheduler", {"diffusers", "EulerDiscreteScheduler"}},
              {"safety_checker", {nullptr, nullptr}}};
}

json sdxl_index(const std::string& pipeline = "StableDiffusionXLPipeline") {
  auto index = sd_index(pipeline);
  index["tokenizer_2"] = {"transformers", "CLIPTokenizer"};
  index["text_encoder_2"] = {"transformers", "CLIPTextModelWithProjection"};
  index["force_zeros_for_empty_prompt"] = true;
  index.erase("safety_checker");
  return index;
}

json sd1_unet() {
  return json{{"_class_name", "UNet2DConditionModel"},
              {"in_channels", 4},
              {"cross_attention_dim", 768},
              {"attention_head_dim", 8},
              {"addition_embed_type", nullptr},
              {"class_embed_type", nullptr},
              {"use_linear_projection", false}};
}

json sd2_unet() {
  auto unet = sd1_unet();
  unet["cross_attention_dim"] = 1024;
  unet["attention_head_dim"] = {5, 10, 20, 20};
  unet["use_linear_projection"] = true;
  return unet;
}

json sdxl_unet() {
  auto unet = sd2_unet();
  unet["cross_attention_dim"] = 2048;
  unet["addition_embed_type"] = "text_time";
  unet["addition_time_embed_dim"] = 256;
  unet["projection_class_embeddings_input_dim"] = 2816;
  unet["transformer_layers_per_block"] = {1, 2, 10};
  return unet;
}

// Runs `detect` and checks that it fails with every one of `needles` in its message.
template <typename Detect>
void expect_unsupported(Detect detect, const std::vector<std::string>& needles) {
  try {
    detect();
    FAIL("accepted a model it should reject: " << needles.front());
  } catch (const model_error& e) {
    for (const auto& needle : needles) CHECK_THAT(e.what(), Catch::Contains(needle));
  }
}

const std::string names_supported = "supported: Stable Diffusion 1.x and 2.x";

tensor_shapes sd1_keys() {
  return {{"model.diffusion_model.input_blocks.0.0.weight", {320, 4, 3, 3}},
          {"model.diffusion_model.input_blocks.1.1.proj_in.weight", {320, 320, 1, 1}},
          {"model.diffusion_model.time_embed.0.weight", {1280, 320}},
          {"first_stage_model.decoder.conv_out.weight", {3, 128, 3, 3}},
          {"cond_stage_model.transformer.text_model.final_layer_norm.weight", {768}}};
}

tensor_shapes sdxl_keys() {
  return {{"model.diffusion_model.input_blocks.0.0.weight", {320, 4, 3, 3}},
          {"model.diffusion_model.input_blocks.4.1.proj_in.weight", {640, 640}},
          {"model.diffusion_model.label_emb.0.0.weight", {1280, 2816}},
          {"model.diffusion_model.label_emb.0.2.weight", {1280, 1280}},
          {"first_stage_model.decoder.conv_out.weight", {3, 128, 3, 3}},
          {"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", {768}},
          {"conditioner.embedders.1.model.ln_final.weight", {1280}}};
}

}  // namespace

TEST_CASE("architecture: SD1, SD2 and SDXL from model_index.json and the unet config",
          "[architecture]") {
  CHECK(detect_architecture(sd_index(), sd1_unet()) == architecture::sd1);
  CHECK(detect_architecture(sd_index(), sd2_unet()) == architecture::sd2);
  auto wide_only = sd1_unet();
  wide_only["cross_attention_dim"] = 1024;
  CHECK(detect_unet_architecture(wide_only) == architecture::sd2);
  CHECK(detect_architecture(sdxl_index(), sdxl_unet()) == architecture::sdxl);
  // A base model saved by the image-to-image pipelines is still the base model.
  CHECK(detect_architecture(sdxl_index("StableDiffusionXLImg2ImgPipeline"), sdxl_unet()) ==
        architecture::sdxl);
  CHECK(detect_architecture(sd_index("StableDiffusionImg2ImgPipeline"), sd1_unet()) ==
        architecture::sd1);
  auto unnamed = sd_index();
  unnamed.erase("_class_name");
  CHECK(detect_architecture(unnamed, sd2_unet()) == architecture::sd2);
  CHECK(std::string(muse::model::architecture_name(architecture::sdxl)) == "sdxl");
}

TEST_CASE("architecture: unsupported pipelines and UNets are named", "[architecture]") {
  // The SDXL refiner, three ways.
  auto refiner = sdxl_index("StableDiffusionXLImg2ImgPipeline");
  refiner["text_encoder"] = {nullptr, nullptr};
  refiner["tokenizer"] = {nullptr, nullptr};
  refiner["requires_aesthetics_score"] = true;
  auto refiner_unet = sdxl_unet();
  refiner_unet["projection_class_embeddings_input_dim"] = 2560;
  refiner_unet["cross_attention_dim"] = 1280;
  expect_unsupported([&] { detect_architecture(refiner, refiner_unet); },
                     {"refiner", "requires_aesthetics_score", names_supported});
  refiner.erase("requires_aesthetics_score");
  expect_unsupported([&] { detect_architecture(refiner, refiner_unet); },
                     {"refiner", "text_encoder_2 only"});
  expect_unsupported([&] { detect_architecture(sdxl_index(), refiner_unet); }, {"refiner", "2560"});

  auto sd3 = json{{"_class_name", "StableDiffusion3Pipeline"},
                  {"transformer", {"diffusers", "SD3Transformer2DModel"}},
                  {"text_encoder_3", {"transformers", "T5EncoderModel"}}};
  expect_unsupported([&] { detect_architecture(sd3, json()); },
                     {"StableDiffusion3Pipeline", "Stable Diffusion 3", names_supported});
  auto flux = json{{"_class_name", "FluxPipeline"},
                   {"transformer", {"diffusers", "FluxTransformer2DModel"}}};
  expect_unsupported([&] { detect_architecture(flux, json()); }, {"FluxPipeline", "Flux"});
  auto unnamed_transformer = flux;
  unnamed_transformer.erase("_class_name");
  expect_unsupported([&] { detect_architecture(unnamed_transformer, json()); },
                     {"transformer denoiser"});

  auto inpaint_unet = sd1_unet();
  inpaint_unet["in_channels"] = 9;
  expect_unsupported(
      [&] { detect_architecture(sd_index("StableDiffusionInpaintPipeline"), inpaint_unet); },
      {"StableDiffusionInpaintPipeline", "inpainting"});
  expect_unsupported([&] { detect_architecture(sd_index(), inpaint_unet); },
                     {"inpainting", "in_channels 9"});
  auto depth_unet = sd2_unet();
  depth_unet["in_channels"] = 5;
  expect_unsupported([&] { detect_architecture(sd_index(), depth_unet); }, {"in_channels 5"});
  expect_unsupported([&] { detect_architecture(sd_index("KandinskyV22Pipeline"), sd1_unet()); },
                     {"KandinskyV22Pipeline", names_supported});
  auto other_addition = sd2_unet();
  other_addition["addition_embed_type"] = "text_image";
  expect_unsupported([&] { detect_architecture(sd_index(), other_addition); }, {"text_image"});
  auto class_embedding = sd2_unet();
  class_embedding["class_embed_type"] = "timestep";
  expect_unsupported([&] { detect_unet_architecture(class_embedding); }, {"class_embed_type"});

  // The pipeline class and the UNet must agree.
  expect_unsupported([&] { detect_architecture(sdxl_index(), sd2_unet()); },
                     {"StableDiffusionXLPipeline", "no text_time"});
  expect_unsupported([&] { detect_architecture(sd_index(), sdxl_unet()); },
                     {"StableDiffusionPipeline", "text_time"});
  auto no_unet = sd_index();
  no_unet.erase("unet");
  CHECK_THROWS_WITH(detect_architecture(no_unet, json()), Catch::Contains("unet"));
}

TEST_CASE("architecture: a single file's original key names", "[architecture][single_file]") {
  CHECK(detect_single_file_architecture(sd1_keys()) == architecture::sd1);
  auto sd2 = sd1_keys();
  sd2.erase("cond_stage_model.transformer.text_model.final_layer_norm.weight");
  sd2["cond_stage_model.model.ln_final.weight"] = {1024};
  CHECK(detect_single_file_architecture(sd2) == architecture::sd2);
  // Without a text encoder the transformers' proj_in tells (linear in SD2, 1x1 conv in SD1).
  auto bare = sd2;
  bare.erase("cond_stage_model.model.ln_final.weight");
  CHECK(detect_single_file_architecture(bare) == architecture::sd1);
  bare["model.diffusion_model.input_blocks.1.1.proj_in.weight"] = {320, 320};
  CHECK(detect_single_file_architecture(bare) == architecture::sd2);
  CHECK(detect_single_file_architecture(sdxl_keys()) == architecture::sdxl);

  auto refiner = sdxl_keys();
  refiner.erase("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight");
  refiner.erase("conditioner.embedders.1.model.ln_final.weight");
  refiner["conditioner.embedders.0.model.ln_final.weight"] = {1280};
  expect_unsupported([&] { detect_single_file_architecture(refiner); },
                     {"refiner", "OpenCLIP ViT-bigG alone", names_supported});
  auto refiner_unet_only = sdxl_keys();
  refiner_unet_only["model.diffusion_model.label_emb.0.0.weight"] = {1536, 2560};
  expect_unsupported([&] { detect_single_file_architecture(refiner_unet_only); },
                     {"refiner", "2560"});
  auto no_label = sdxl_keys();
  no_label.erase("model.diffusion_model.label_emb.0.0.weight");
  no_label.erase("model.diffusion_model.label_emb.0.2.weight");
  expect_unsupported([&] { detect_single_file_architecture(no_label); }, {"label_emb"});

  expect_unsupported(
      [&] {
        detect_single_file_architecture(
            {{"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", {4608, 1536}},
             {"first_stage_model.decoder.conv_out.weight", {3, 128, 3, 3}}});
      },
      {"Stable Diffusion 3", "joint_blocks", names_supported});
  expect_unsupported(
      [&] {
        detect_single_file_architecture({{"double_blocks.0.img_attn.qkv.weight", {9216, 3072}},
                                         {"single_blocks.0.linear1.weight", {21504, 3072}}});
      },
      {"Flux", "double_blocks"});
  auto inpainting = sd1_keys();
  inpainting["model.diffusion_model.input_blocks.0.0.weight"] = {320, 9, 3, 3};
  expect_unsupported([&] { detect_single_file_architecture(inpainting); }, {"inpainting"});
  expect_unsupported(
      [&] {
        detect_single_file_architecture({{"encoder.layers.0.weight", {4, 4}}});
      },
      {"not a Stable Diffusion checkpoint", "encoder.layers.0.weight"});
}

TEST_CASE("architecture: the shipped pipelines, and unsupported ones failing at load",
          "[architecture]") {
  CHECK(detect_model_architecture(data_dir + "/tiny-sd") == architecture::sd1);
  CHECK(detect_model_architecture(data_dir + "/tiny-sd2") == architecture::sd2);
  CHECK(detect_model_architecture(data_dir + "/tiny-sd-single.safetensors",
                                  data_dir + "/tiny-sd") == architecture::sd1);
  // The single file's keys (SD1's CLIP) and SD2's configs disagree.
  expect_unsupported(
      [&] {
        detect_model_architecture(data_dir + "/tiny-sd-single.safetensors", data_dir + "/tiny-sd2");
      },
      {"keys are sd1", "sd2"});
  CHECK_THROWS_AS(detect_model_architecture("/nonexistent/model"), model_error);

  const std::string dir = "/tmp/muse_architecture_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  muse::model::testing::write_json(
      dir + "/model_index.json",
      {{"_class_name", "FluxPipeline"}, {"transformer", {"diffusers", "FluxTransformer2DModel"}}});
  muse::model::generator_options options;
  options.path = dir;
  expect_unsupported([&] { muse::model::load_generator(options); }, {dir, "Flux", names_supported});
  muse::model::testing::remove_tree(dir);
}
