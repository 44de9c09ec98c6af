#pragma once
// Which model family a checkpoint is, decided once at load: from a diffusers directory's
// model_index.json and unet/config.json, or from a single file's tensor names (the original
// LDM/SGM naming). Everything this code does not run (the SDXL refiner, SD3, Flux, inpainting and
// other UNet variants, unknown pipelines) is a model_error naming what was found and what is
// supported. Includes no libtorch.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace muse::model {

enum class architecture {
  sd1,   // Stable Diffusion 1.x: CLIP ViT-L, cross-attention through 1x1 convolutions
  sd2,   // Stable Diffusion 2.x: OpenCLIP ViT-H, linear projections in the transformers
  sdxl,  // Stable Diffusion XL base: two text encoders, the "text_time" added conditioning
};

// "sd1", "sd2", "sdxl".
const char* architecture_name(architecture a);

// From the UNet's config.json alone: "text_time" added conditioning is SDXL; otherwise linear
// transformer projections or a 1024-wide context are SD2; otherwise SD1.
architecture detect_unet_architecture(const nlohmann::json& unet_config);

// A diffusers directory: its model_index.json (the pipeline's _class_name and components) and
// its unet/config.json, which must agree.
architecture detect_architecture(const nlohmann::json& model_index,
                                 const nlohmann::json& unet_config);

// A single file's tensors (original names, e.g. "model.diffusion_model.input_blocks.0.0.weight")
// with their shapes.
using tensor_shapes = std::map<std::string, std::vector<int64_t>>;
architecture detect_single_file_architecture(const tensor_shapes& tensors);
class weight_map;
architecture detect_single_file_architecture(const weight_map& tensors);

// The model at `path` as the loader takes it: a diffusers directory, or a .safetensors single
// file whose configs lie in `config_dir` (default: its directory); a single file's keys and its
// configs must name the same architecture.
architecture detect_model_architecture(const std::string& path, const std::string& config_dir = "");

}  // namespace muse::model
