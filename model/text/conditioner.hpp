#pragma once
// The text side of a diffusion model: prompts -> conditioning{context, pooled, time_ids}, as
// diffusers' pipelines encode them.
// - SD 1.x/2.x: one CLIP text encoder; context = its last_hidden_state (StableDiffusionPipeline:
//   an empty negative prompt is encoded like any other text).
// - SDXL: CLIP ViT-L (text_encoder) and OpenCLIP ViT-bigG with projection (text_encoder_2), each
//   with its tokenizer (the second pads with "!"); context = the penultimate hidden states of
//   both, concatenated on the channel axis; pooled = the second's projected pooled output
//   (text_embeds); time_ids = (original size, crop top-left, target size). With
//   force_zeros_for_empty_prompt an empty negative prompt is all zeros, context and pooled, as
//   StableDiffusionXLPipeline does for negative_prompt=None.

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "model/formats/weights.hpp"
#include "model/text/text_encoder.hpp"
#include "model/text/tokenizer.hpp"

namespace muse::model {

// What the denoiser is conditioned on, one row per prompt.
struct conditioning {
  torch::Tensor context;   // (N, L, D) cross-attention states, model dtype
  torch::Tensor pooled;    // (N, P) SDXL's added text_embeds, model dtype; undefined for SD 1/2
  torch::Tensor time_ids;  // (N, 6) SDXL's added time ids, model dtype; undefined for SD 1/2

  int64_t rows() const { return context.defined() ? context.size(0) : 0; }
  // Rows [start, start + length) of every defined member.
  conditioning narrow(int64_t start, int64_t length) const;
  // The rows of `parts`, in order, as one conditioning; every part must define the same members.
  static conditioning cat(const std::vector<conditioning>& parts);
};

// SDXL's micro-conditioning of one image, in pixels, (height, width) as diffusers orders them.
struct size_conditioning {
  int original_height = 0, original_width = 0;
  int crop_top = 0, crop_left = 0;
  int target_height = 0, target_width = 0;

  // StableDiffusionXLPipeline's defaults for an image of that size: original = target =
  // (height, width), crop (0, 0).
  static size_conditioning of_image(int height, int width);
};

// diffusers' _get_add_time_ids, one row per size: (N, 6) float32 on the CPU,
// [original_h, original_w, crop_top, crop_left, target_h, target_w].
torch::Tensor make_time_ids(const std::vector<size_conditioning>& sizes);

// One row to encode.
struct text_prompt {
  std::string text;
  // SDXL: the second encoder's text (diffusers' prompt_2 / negative_prompt_2); empty: `text`.
  std::string text_2;
  // A negative prompt: empty, it is all zeros where the model zeroes empty negatives (SDXL).
  bool negative = false;
  size_conditioning size;  // SDXL: this row's time ids; ignored for SD 1/2
};

// A tokenizer and the text encoder it feeds.
struct text_encoder_part {
  std::unique_ptr<clip_tokenizer> tokenizer;
  text_encoder encoder{nullptr};
};

class conditioner {
 public:
  // SD 1.x/2.x.
  explicit conditioner(text_encoder_part first);
  // SDXL: `second` must have a projection (CLIPTextModelWithProjection); both tokenizers must
  // have one max length. Throws model_error otherwise.
  conditioner(text_encoder_part first, text_encoder_part second, bool zero_empty_negative);

  // One row per prompt, in order; each distinct text is encoded once (one call per encoder).
  // Throws model_error when an SDXL prompt has no target size.
  conditioning encode(const std::vector<text_prompt>& prompts);

  bool dual() const { return !second_.encoder.is_empty(); }
  bool zeroes_empty_negative() const { return zero_empty_negative_; }
  int max_length() const { return first_.tokenizer->max_length(); }
  int64_t context_dim() const;  // D: the UNet's cross_attention_dim
  int64_t pooled_dim() const;   // P: 0 for SD 1/2
  // The encoders, for memory accounting and device moves.
  std::vector<text_encoder> encoders() const;

 private:
  text_encoder_part first_, second_;
  bool zero_empty_negative_ = false;
};

// The text side of a diffusers directory: model_index.json names one encoder (tokenizer/,
// text_encoder/) or two (also tokenizer_2/, text_encoder_2/; force_zeros_for_empty_prompt,
// default true as in StableDiffusionXLPipeline). Only text_encoder_2 (SDXL's refiner) is refused.
std::unique_ptr<conditioner> load_conditioner(const std::string& dir, torch::Device device,
                                              torch::Dtype dtype);
// The same with the weights given (a single file's parts; text_encoder_2 null for SD 1/2): the
// configs and tokenizers still come from `dir`.
std::unique_ptr<conditioner> load_conditioner(const std::string& dir,
                                              const weight_map& text_encoder_weights,
                                              const weight_map* text_encoder_2_weights,
                                              torch::Device device, torch::Dtype dtype);

}  // namespace muse::model
