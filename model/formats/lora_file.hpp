#pragma once
// LoRA files as users download them, read into one typed form: per adapted module (named by its
// diffusers/transformers module path within a component) the down (A) and up (B) matrices and
// the alpha that scales their product. Two layouts are read:
// - kohya / A1111: "lora_unet_<path with _>.lora_down.weight", ".lora_up.weight", ".alpha";
//   "lora_te_" (SD 1.x/2.x) or "lora_te1_"/"lora_te2_" (SDXL) for the text encoders; SDXL's UNet
//   also under SGM block names ("lora_unet_input_blocks_4_1_..."), mapped as diffusers maps them.
// - diffusers / PEFT: "unet.<path>.lora_A.weight" / ".lora_B.weight" (also the older
//   ".lora.down.weight" / ".lora.up.weight"), "text_encoder.", "text_encoder_2."; alpha from
//   the file's "lora_adapter_metadata" (lora_alpha, alpha_pattern), else ".alpha" keys, else
//   the rank (scale 1), as diffusers' load_lora_weights takes it.
// Text encoder paths may leave out "text_model." (as transformers 5 names CLIPTextModel's modules).
// Anything else is refused by name: a key that matches no module of the model (a LoRA for
// another base), shapes that do not fit the module, LyCORIS variants (LoHa, LoKr, DoRA, Tucker
// mid weights), rsLoRA, 3x3 convolution LoRAs (kohya LoCon).

#include <torch/torch.h>

#include <map>
#include <string>

#include "model/formats/weights.hpp"

namespace muse::model {

// A module a LoRA may adapt: a Linear layer (kernel 0) or a Conv2d (its kernel size).
struct lora_target_shape {
  int64_t in = 0;
  int64_t out = 0;
  int64_t kernel = 0;
};
// Per component ("unet", "text_encoder", "text_encoder_2"): module path -> shape.
using lora_targets = std::map<std::string, std::map<std::string, lora_target_shape>>;

// One adapted module: y = W x + (alpha / rank) * up (down x).
struct lora_module {
  std::string key;     // the file's key of the down matrix, for messages
  torch::Tensor down;  // (rank, in), float32 (a 1x1 kernel flattened)
  torch::Tensor up;    // (out, rank), float32
  double alpha = 0;
  int64_t rank() const { return down.size(0); }
  double scale() const { return alpha / static_cast<double>(rank()); }
  bool convolution = false;  // the target is a 1x1 Conv2d
};

enum class lora_format { kohya, peft };

struct lora_file {
  lora_format format = lora_format::kohya;
  // component -> module path -> its update
  std::map<std::string, std::map<std::string, lora_module>> components;
  size_t module_count() const;
};

// Reads `weights` (with its metadata) as a LoRA for a model with `targets`; `name` names it in
// errors. Throws model_error naming the first key that does not fit.
lora_file parse_lora(const weight_map& weights, const lora_targets& targets,
                     const std::string& name);
// The same from a .safetensors file.
lora_file read_lora_file(const std::string& path, const lora_targets& targets);

}  // namespace muse::model
