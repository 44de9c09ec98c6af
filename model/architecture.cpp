#include "model/architecture.hpp"

#include <algorithm>

#include "model/formats/model_dir.hpp"
#include "model/formats/weights.hpp"
#include "model/generator.hpp"

namespace muse::model {

namespace {

const char* const supported =
    "supported: Stable Diffusion 1.x and 2.x (StableDiffusionPipeline) and Stable Diffusion XL "
    "base (StableDiffusionXLPipeline)";

[[noreturn]] void unsupported(const std::string& what) {
  throw model_error("unsupported model: " + what + " (" + supported + ")");
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// A model_index.json component that is present and not [null, null].
bool has_component(const nlohmann::json& index, const std::string& name) {
  auto it = index.find(name);
  if (it == index.end() || it->is_null()) return false;
  return !(it->is_array() && !it->empty() && (*it)[0].is_null());
}

// The released refiner's UNet: five time ids (sizes, crop, aesthetic score) of 256 and the
// 1280-wide pooled output of OpenCLIP ViT-bigG alone.
constexpr int64_t refiner_projection_dim = 2560;
constexpr int64_t refiner_time_embed_dim = 256;

const char* const refiner = "the Stable Diffusion XL refiner";

}  // namespace

const char* architecture_name(architecture a) {
  switch (a) {
    case architecture::sd1:
      return "sd1";
    case architecture::sd2:
      return "sd2";
    case architecture::sdxl:
      return "sdxl";
  }
  return "?";
}

architecture detect_unet_architecture(const nlohmann::json& unet) {
  if (!unet.is_object()) throw model_error("unet config: expected a JSON object");
  const auto in_channels = json_int(unet, "in_channels", 4);
  if (in_channels == 9)
    unsupported("an inpainting UNet (unet config in_channels 9: latents, mask and masked image)");
  if (in_channels != 4)
    unsupported("a UNet with in_channels " + std::to_string(in_channels) +
                " (text-to-image UNets take the 4 latent channels)");
  const auto class_embed = json_string(unet, "class_embed_type", "");
  if (!class_embed.empty()) unsupported("a UNet with class_embed_type \"" + class_embed + "\"");
  const auto added = json_string(unet, "addition_embed_type", "");
  if (added == "text_time") {
    if (json_int(unet, "projection_class_embeddings_input_dim", 0) == refiner_projection_dim &&
        json_int(unet, "addition_time_embed_dim", 0) == refiner_time_embed_dim)
      unsupported(std::string(refiner) +
                  "'s UNet (projection_class_embeddings_input_dim 2560: an aesthetic score "
                  "among its time ids)");
    return architecture::sdxl;
  }
  if (!added.empty()) unsupported("a UNet with addition_embed_type \"" + added + "\"");
  const auto context = unet.find("cross_attention_dim");
  const bool wide_context =
      context != unet.end() && context->is_number_integer() && context->get<int64_t>() == 1024;
  return json_bool(unet, "use_linear_projection", false) || wide_context ? architecture::sd2
                                                                         : architecture::sd1;
}

architecture detect_architecture(const nlohmann::json& index, const nlohmann::json& unet) {
  if (!index.is_object()) throw model_error("model_index.json is not an object");
  const auto pipeline = json_string(index, "_class_name", "");
  const auto named = "model_index.json names " + pipeline;
  if (starts_with(pipeline, "StableDiffusion3")) unsupported(named + " (Stable Diffusion 3)");
  if (starts_with(pipeline, "Flux")) unsupported(named + " (Flux)");
  if (pipeline.find("Inpaint") != std::string::npos) unsupported(named + " (inpainting)");
  const bool xl_pipeline =
      pipeline == "StableDiffusionXLPipeline" || pipeline == "StableDiffusionXLImg2ImgPipeline";
  const bool sd_pipeline =
      pipeline == "StableDiffusionPipeline" || pipeline == "StableDiffusionImg2ImgPipeline";
  if (!pipeline.empty() && !xl_pipeline && !sd_pipeline) unsupported(named);
  if (json_bool(index, "requires_aesthetics_score", false))
    unsupported(std::string(refiner) + " (model_index.json requires_aesthetics_score true)");
  if (has_component(index, "text_encoder_2") && !has_component(index, "text_encoder"))
    unsupported(std::string(refiner) + " (model_index.json has text_encoder_2 only)");
  if (!has_component(index, "unet")) {
    if (has_component(index, "transformer"))
      unsupported("a transformer denoiser (model_index.json has \"transformer\", no \"unet\")");
    throw model_error("model_index.json lacks 'unet'");
  }
  if (unet.is_null()) throw model_error("no unet config");
  const auto found = detect_unet_architecture(unet);
  if (xl_pipeline && found != architecture::sdxl)
    unsupported(named + " but its UNet has no text_time added conditioning");
  if (sd_pipeline && found == architecture::sdxl)
    unsupported(named + " but its UNet takes SDXL's text_time added conditioning");
  return found;
}

architecture detect_single_file_architecture(const tensor_shapes& tensors) {
  const auto any_under = [&](const std::string& prefix) {
    auto it = tensors.lower_bound(prefix);
    return it != tensors.end() && starts_with(it->first, prefix);
  };
  const auto shape = [&](const std::string& key) {
    auto it = tensors.find(key);
    return it == tensors.end() ? std::vector<int64_t>{} : it->second;
  };
  const std::string unet = "model.diffusion_model.";
  if (any_under("joint_blocks.") || any_under(unet + "joint_blocks."))
    unsupported("a Stable Diffusion 3 checkpoint (joint_blocks.*)");
  if (any_under("double_blocks.") || any_under(unet + "double_blocks."))
    unsupported("a Flux checkpoint (double_blocks.*)");
  if (!any_under(unet + "input_blocks.")) {
    const std::string example = tensors.empty() ? "none" : tensors.begin()->first;
    unsupported("not a Stable Diffusion checkpoint: no " + unet +
                "input_blocks.* (first key: " + example + ")");
  }
  const auto conv_in = shape(unet + "input_blocks.0.0.weight");
  if (conv_in.size() == 4 && conv_in[1] == 9)
    unsupported("an inpainting UNet (input_blocks.0.0 takes 9 channels)");
  if (conv_in.size() == 4 && conv_in[1] != 4)
    unsupported("a UNet whose input_blocks.0.0 takes " + std::to_string(conv_in[1]) +
                " channels (text-to-image UNets take 4)");

  const std::string embedders = "conditioner.embedders.";
  if (any_under(embedders) || any_under(unet + "label_emb.")) {
    if (any_under(embedders + "0.model.") && !any_under(embedders + "1."))
      unsupported(std::string(refiner) + " (conditioner.embedders.0 is OpenCLIP ViT-bigG alone)");
    const auto label = shape(unet + "label_emb.0.0.weight");
    if (label.size() == 2 && label[1] == refiner_projection_dim)
      unsupported(std::string(refiner) + " (label_emb takes 2560 features)");
    if (!any_under(unet + "label_emb."))
      unsupported("an SGM checkpoint without " + unet + "label_emb.* (no text_time conditioning)");
    if (!any_under(embedders + "0.transformer.") || !any_under(embedders + "1.model."))
      unsupported(
          "an SGM checkpoint whose conditioner is not SDXL base's (conditioner.embedders.0: CLIP "
          "ViT-L, conditioner.embedders.1: OpenCLIP ViT-bigG)");
    return architecture::sdxl;
  }
  if (any_under("cond_stage_model.model.")) return architecture::sd2;
  if (any_under("cond_stage_model.transformer.")) return architecture::sd1;
  // Without a text encoder the UNet tells: SD2's transformers project with linear layers.
  for (auto it = tensors.lower_bound(unet + "input_blocks.");
       it != tensors.end() && starts_with(it->first, unet + "input_blocks."); ++it)
    if (ends_with(it->first, ".proj_in.weight"))
      return it->second.size() == 2 ? architecture::sd2 : architecture::sd1;
  return architecture::sd1;
}

architecture detect_single_file_architecture(const weight_map& weights) {
  tensor_shapes tensors;
  for (const auto& name : weights.names()) {
    const auto sizes = weights.get(name).sizes();
    tensors[name] = std::vector<int64_t>(sizes.begin(), sizes.end());
  }
  return detect_single_file_architecture(tensors);
}

architecture detect_model_architecture(const std::string& path, const std::string& config_dir) {
  const bool single_file = ends_with(path, ".safetensors");
  try {
    std::string dir = path;
    architecture from_keys = architecture::sd1;
    if (single_file) {
      if (!path_exists(path)) throw model_error("model file does not exist");
      from_keys = detect_single_file_architecture(weight_map::open(path));
      const auto slash = path.find_last_of('/');
      dir = !config_dir.empty()          ? config_dir
            : slash == std::string::npos ? "."
                                         : path.substr(0, slash);
    }
    if (!is_directory(dir)) throw model_error("not a directory: " + dir);
    const auto index_path = dir + "/model_index.json";
    if (!path_exists(index_path)) throw model_error(dir + ": no model_index.json");
    const auto unet_path = dir + "/unet/config.json";
    const auto from_configs =
        detect_architecture(read_json_file(index_path),
                            path_exists(unet_path) ? read_json_file(unet_path) : nlohmann::json());
    if (single_file && from_keys != from_configs)
      throw model_error(std::string("the file's keys are ") + architecture_name(from_keys) +
                        " but the configs in " + dir + " are " + architecture_name(from_configs));
    return from_configs;
  } catch (const model_error& e) {
    throw model_error(path + ": " + e.what());
  }
}

}  // namespace muse::model
