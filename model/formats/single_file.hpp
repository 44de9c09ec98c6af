#pragma once
// Single-file Stable Diffusion checkpoints (the original key naming that most downloads use).
// LDM files (SD 1.x/2.x): "model.diffusion_model.*" (UNet), "first_stage_model.*" (VAE),
// "cond_stage_model.transformer.*" (SD1's CLIP text model) or "cond_stage_model.model.*" (SD2's
// OpenCLIP, fused q/k/v). SGM files (SDXL base): the same UNet and VAE names (the UNet's
// "label_emb.0" is the "text_time" add_embedding), "conditioner.embedders.0.transformer.*" (CLIP
// ViT-L, transformers' names) and "conditioner.embedders.1.model.*" (OpenCLIP ViT-bigG with its
// projection). The keys are renamed to the diffusers/transformers names, so the usual load_unet /
// load_vae / load_text_encoder take them with the component configs of a diffusers layout. The
// block structure is read from the keys themselves; no tensor is copied but the transposed
// projection.

#include <string>

#include "model/formats/weights.hpp"

namespace muse::model {

struct single_file_components {
  weight_map unet;  // diffusers names: "down_blocks.0.resnets.0.conv1.weight"
  weight_map vae;   // diffusers names: "decoder.up_blocks.0.resnets.0.conv1.weight"
  // transformers names: "text_model.encoder.layers.0.self_attn.q_proj.weight"; SD1's CLIP,
  // SD2's OpenCLIP, SDXL's CLIP ViT-L (its text_encoder)
  weight_map text_encoder;
  // SDXL only (empty for SD 1.x/2.x): OpenCLIP ViT-bigG as CLIPTextModelWithProjection,
  // "text_model.*" and "text_projection.weight"; all its layers
  weight_map text_encoder_2;
  bool open_clip = false;  // the text encoder came from SD2's OpenCLIP naming
};

// Splits and renames a whole checkpoint. Training leftovers (EMA copies, the DDPM schedule
// buffers and SGM's denoiser sigmas, the VAE's loss networks, SD2's OpenCLIP projection head)
// are dropped; any other key that does not map throws model_error listing them, and so does a
// file with both LDM and SGM text encoders. `text_encoder_layers` >= 0 drops `text_encoder`
// layers from that index on: SD2 checkpoints hold all 24 OpenCLIP layers while its diffusers
// text encoder keeps 23 (it uses the penultimate layer's output). `text_encoder_2` keeps every
// layer, as SDXL's diffusers text_encoder_2 does.
single_file_components split_single_file(const weight_map& all, int text_encoder_layers = -1);

// Opens `path` (a .safetensors file) and splits it.
single_file_components load_single_file(const std::string& path, int text_encoder_layers = -1);

}  // namespace muse::model
