#include "model/formats/single_file.hpp"

#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "model/architecture.hpp"
#include "model/generator.hpp"

namespace muse::model {

namespace {

using tensor_map = std::map<std::string, torch::Tensor>;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// Replaces `from` at the start of `text`; nullopt if `text` does not start with it.
std::optional<std::string> swap_prefix(const std::string& text, const std::string& from,
                                       const std::string& to) {
  if (!starts_with(text, from)) return std::nullopt;
  return to + text.substr(from.size());
}

std::optional<std::string> swap_any(const std::string& text,
                                    const std::vector<std::pair<std::string, std::string>>& table) {
  for (const auto& [from, to] : table)
    if (auto swapped = swap_prefix(text, from, to)) return swapped;
  return std::nullopt;
}

// Reads "N." at `pos`, advancing past the dot.
std::optional<int> read_index(const std::string& text, size_t& pos) {
  size_t end = pos;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end == pos || end >= text.size() || text[end] != '.' || end - pos > 6) return std::nullopt;
  const int value = std::stoi(text.substr(pos, end - pos));
  pos = end + 1;
  return value;
}

// "head" "K." "S." "rest" -> (K, S, rest)
struct block_key {
  int index = 0;
  int slot = 0;
  std::string rest;
};

std::optional<block_key> parse_block(const std::string& key, const std::string& head) {
  if (!starts_with(key, head)) return std::nullopt;
  size_t pos = head.size();
  const auto index = read_index(key, pos);
  if (!index) return std::nullopt;
  const auto slot = read_index(key, pos);
  if (!slot) return std::nullopt;
  return block_key{*index, *slot, key.substr(pos)};
}

std::string n(int value) { return std::to_string(value); }

// ---- UNet ----

// The original UNet's ResBlock layer names.
const std::vector<std::pair<std::string, std::string>> unet_resnet_parts = {
    {"in_layers.0.", "norm1."},          {"in_layers.2.", "conv1."},
    {"out_layers.0.", "norm2."},         {"out_layers.3.", "conv2."},
    {"emb_layers.1.", "time_emb_proj."}, {"skip_connection.", "conv_shortcut."}};

enum class part { resnet, attention, downsample, upsample, plain };

struct target {
  std::string prefix;  // diffusers prefix of the module
  part kind = part::plain;
};

std::optional<std::string> rename_part(part kind, const std::string& rest) {
  switch (kind) {
    case part::resnet:
      return swap_any(rest, unet_resnet_parts);
    case part::downsample:
      return swap_prefix(rest, "op.", "conv.");
    case part::upsample:
      if (rest == "conv.weight" || rest == "conv.bias") return rest;
      return std::nullopt;
    case part::attention:
    case part::plain:
      return rest;
  }
  return std::nullopt;
}

// The original UNet numbers its blocks flatly (input_blocks.K, output_blocks.M); diffusers groups
// them by resolution level. The grouping follows from the keys: a downsampling "op" ends a level
// on the way down, an upsampling conv ends one on the way up.
class unet_layout {
 public:
  explicit unet_layout(const std::vector<std::string>& keys) {
    std::map<int, std::map<int, std::vector<std::string>>> input, output;
    for (const auto& key : keys) {
      if (auto block = parse_block(key, "input_blocks."))
        input[block->index][block->slot].push_back(block->rest);
      if (auto block = parse_block(key, "output_blocks."))
        output[block->index][block->slot].push_back(block->rest);
    }
    int level = 0, layer = 0;
    for (const auto& [index, slots] : input) {
      const auto at = [&](int slot) { return "input_blocks." + n(index) + "." + n(slot) + "."; };
      if (index == 0) {
        for (const auto& slot : slots)
          targets_[at(slot.first)] = {slot.first == 0 ? "conv_in." : "", part::plain};
        continue;
      }
      const auto first = slots.find(0);
      const bool is_downsample =
          first != slots.end() && !first->second.empty() && starts_with(first->second[0], "op.");
      if (is_downsample) {
        targets_[at(0)] = {"down_blocks." + n(level) + ".downsamplers.0.", part::downsample};
        ++level;
        layer = 0;
        continue;
      }
      for (const auto& slot : slots) {
        if (slot.first == 0)
          targets_[at(0)] = {"down_blocks." + n(level) + ".resnets." + n(layer) + ".",
                             part::resnet};
        else if (slot.first == 1)
          targets_[at(1)] = {"down_blocks." + n(level) + ".attentions." + n(layer) + ".",
                             part::attention};
      }
      ++layer;
    }
    level = 0;
    layer = 0;
    for (const auto& [index, slots] : output) {
      const auto at = [&](int slot) { return "output_blocks." + n(index) + "." + n(slot) + "."; };
      bool upsamples = false;
      for (const auto& [slot, rests] : slots) {
        if (slot == 0) {
          targets_[at(0)] = {"up_blocks." + n(level) + ".resnets." + n(layer) + ".", part::resnet};
          continue;
        }
        bool only_conv = true;
        for (const auto& rest : rests)
          only_conv = only_conv && (rest == "conv.weight" || rest == "conv.bias");
        if (only_conv) {
          targets_[at(slot)] = {"up_blocks." + n(level) + ".upsamplers.0.", part::upsample};
          upsamples = true;
        } else {
          targets_[at(slot)] = {"up_blocks." + n(level) + ".attentions." + n(layer) + ".",
                                part::attention};
        }
      }
      ++layer;
      if (upsamples) {
        ++level;
        layer = 0;
      }
    }
    targets_["middle_block.0."] = {"mid_block.resnets.0.", part::resnet};
    targets_["middle_block.1."] = {"mid_block.attentions.0.", part::attention};
    targets_["middle_block.2."] = {"mid_block.resnets.1.", part::resnet};
    targets_["time_embed.0."] = {"time_embedding.linear_1.", part::plain};
    targets_["time_embed.2."] = {"time_embedding.linear_2.", part::plain};
    targets_["label_emb.0.0."] = {"add_embedding.linear_1.", part::plain};  // SDXL's text_time
    targets_["label_emb.0.2."] = {"add_embedding.linear_2.", part::plain};
    targets_["out.0."] = {"conv_norm_out.", part::plain};
    targets_["out.2."] = {"conv_out.", part::plain};
  }

  std::optional<std::string> rename(const std::string& key) const {
    // Targets are whole dotted prefixes, so "out.0." cannot catch "output_blocks.0.*".
    for (size_t end = key.rfind('.'); end != std::string::npos && end > 0;
         end = key.rfind('.', end - 1)) {
      auto it = targets_.find(key.substr(0, end + 1));
      if (it == targets_.end()) continue;
      if (it->second.prefix.empty()) return std::nullopt;
      auto rest = rename_part(it->second.kind, key.substr(end + 1));
      if (!rest) return std::nullopt;
      return it->second.prefix + *rest;
    }
    return std::nullopt;
  }

 private:
  std::map<std::string, target> targets_;
};

// ---- VAE ----

const std::vector<std::pair<std::string, std::string>> vae_resnet_parts = {
    {"norm1.", "norm1."},
    {"conv1.", "conv1."},
    {"norm2.", "norm2."},
    {"conv2.", "conv2."},
    {"nin_shortcut.", "conv_shortcut."}};

const std::vector<std::pair<std::string, std::string>> vae_attention_parts = {
    {"norm.", "group_norm."},
    {"q.", "to_q."},
    {"k.", "to_k."},
    {"v.", "to_v."},
    {"proj_out.", "to_out.0."}};

class vae_renamer {
 public:
  explicit vae_renamer(const std::vector<std::string>& keys) {
    const std::string head = "decoder.up.";
    for (const auto& key : keys) {
      size_t pos = head.size();
      if (!starts_with(key, head)) continue;
      if (auto level = read_index(key, pos))
        decoder_levels_ = std::max(decoder_levels_, *level + 1);
    }
  }

  // Returns the new name and whether the tensor is a 1x1 conv weight to flatten to a linear one.
  std::optional<std::pair<std::string, bool>> rename(const std::string& key) const {
    if (key == "quant_conv.weight" || key == "quant_conv.bias" || key == "post_quant_conv.weight" ||
        key == "post_quant_conv.bias")
      return std::make_pair(key, false);
    for (const std::string half : {"encoder.", "decoder."}) {
      if (!starts_with(key, half)) continue;
      const auto rest = key.substr(half.size());
      if (auto renamed = rename_half(half == "decoder.", rest))
        return std::make_pair(half + renamed->first, renamed->second);
      return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  std::optional<std::pair<std::string, bool>> rename_half(bool decoder,
                                                          const std::string& rest) const {
    for (const char* same : {"conv_in.weight", "conv_in.bias", "conv_out.weight", "conv_out.bias"})
      if (rest == same) return std::make_pair(rest, false);
    if (auto out = swap_prefix(rest, "norm_out.", "conv_norm_out."))
      return std::make_pair(*out, false);
    if (auto resnet = swap_prefix(rest, "mid.block_1.", ""))
      return resnet_named("mid_block.resnets.0.", *resnet);
    if (auto resnet = swap_prefix(rest, "mid.block_2.", ""))
      return resnet_named("mid_block.resnets.1.", *resnet);
    if (auto attention = swap_prefix(rest, "mid.attn_1.", "")) {
      auto renamed = swap_any(*attention, vae_attention_parts);
      if (!renamed) return std::nullopt;
      const bool flatten = !starts_with(*attention, "norm.") && ends_with_weight(*attention);
      return std::make_pair("mid_block.attentions.0." + *renamed, flatten);
    }
    const std::string level_head = decoder ? "up." : "down.";
    if (!starts_with(rest, level_head)) return std::nullopt;
    size_t pos = level_head.size();
    const auto level = read_index(rest, pos);
    if (!level) return std::nullopt;
    // The original decoder counts its levels from the lowest resolution up, diffusers from the top.
    const int index = decoder ? decoder_levels_ - 1 - *level : *level;
    const std::string block = (decoder ? "up_blocks." : "down_blocks.") + n(index) + ".";
    const auto tail = rest.substr(pos);
    if (auto resnet = parse_layer(tail))
      return resnet_named(block + "resnets." + n(resnet->first) + ".", resnet->second);
    const std::string sampler = decoder ? "upsample.conv." : "downsample.conv.";
    if (auto conv = swap_prefix(tail, sampler, "")) {
      if (*conv != "weight" && *conv != "bias") return std::nullopt;
      return std::make_pair(
          block + (decoder ? "upsamplers.0.conv." : "downsamplers.0.conv.") + *conv, false);
    }
    return std::nullopt;
  }

  static bool ends_with_weight(const std::string& text) {
    const std::string tail = ".weight";
    return text.size() >= tail.size() &&
           text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
  }

  // "block.J.rest" -> (J, rest)
  static std::optional<std::pair<int, std::string>> parse_layer(const std::string& text) {
    if (!starts_with(text, "block.")) return std::nullopt;
    size_t pos = 6;
    const auto layer = read_index(text, pos);
    if (!layer) return std::nullopt;
    return std::make_pair(*layer, text.substr(pos));
  }

  static std::optional<std::pair<std::string, bool>> resnet_named(const std::string& prefix,
                                                                  const std::string& rest) {
    auto renamed = swap_any(rest, vae_resnet_parts);
    if (!renamed) return std::nullopt;
    return std::make_pair(prefix + *renamed, false);
  }

  int decoder_levels_ = 0;
};

// ---- text encoders ----

// "text_model.encoder.layers.N." at the start of `key`: N, else -1.
int text_layer_index(const std::string& key) {
  const std::string head = "text_model.encoder.layers.";
  if (!starts_with(key, head)) return -1;
  size_t pos = head.size();
  const auto index = read_index(key, pos);
  return index ? *index : -1;
}

const std::vector<std::pair<std::string, std::string>> open_clip_layer_parts = {
    {"ln_1.", "layer_norm1."},
    {"ln_2.", "layer_norm2."},
    {"mlp.c_fc.", "mlp.fc1."},
    {"mlp.c_proj.", "mlp.fc2."},
    {"attn.out_proj.", "self_attn.out_proj."}};

// Maps one OpenCLIP text tower key into `out`; false if it does not map. SD2 drops the
// projection head (its pipeline reads hidden states only); SDXL's second encoder keeps it as
// CLIPTextModelWithProjection's "text_projection.weight": OpenCLIP multiplies x @ P, transformers
// applies a linear layer x @ W^T, so W = P^T.
bool add_open_clip(const std::string& key, const torch::Tensor& tensor, bool keep_projection,
                   tensor_map& out) {
  if (key == "text_projection" && keep_projection) {
    if (tensor.dim() != 2) return false;
    out["text_projection.weight"] = tensor.t().contiguous();
    return true;
  }
  if (key == "text_projection" || key == "logit_scale" || key == "attn_mask") return true;
  if (key == "positional_embedding") {
    out["text_model.embeddings.position_embedding.weight"] = tensor;
    return true;
  }
  if (key == "token_embedding.weight") {
    out["text_model.embeddings.token_embedding.weight"] = tensor;
    return true;
  }
  if (auto final_norm = swap_prefix(key, "ln_final.", "text_model.final_layer_norm.")) {
    out[*final_norm] = tensor;
    return true;
  }
  const std::string head = "transformer.resblocks.";
  if (!starts_with(key, head)) return false;
  size_t pos = head.size();
  const auto layer = read_index(key, pos);
  if (!layer) return false;
  const auto rest = key.substr(pos);
  const std::string prefix = "text_model.encoder.layers." + n(*layer) + ".";
  if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
    if (tensor.size(0) % 3 != 0) return false;
    const auto parts = tensor.chunk(3, 0);
    const std::string kind = rest == "attn.in_proj_weight" ? "weight" : "bias";
    out[prefix + "self_attn.q_proj." + kind] = parts[0];
    out[prefix + "self_attn.k_proj." + kind] = parts[1];
    out[prefix + "self_attn.v_proj." + kind] = parts[2];
    return true;
  }
  if (auto renamed = swap_any(rest, open_clip_layer_parts)) {
    out[prefix + *renamed] = tensor;
    return true;
  }
  return false;
}

// Leftovers of training that a single file may carry and inference never reads.
bool is_training_leftover(const std::string& key) {
  static const std::set<std::string> schedule_buffers = {
      "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
      "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
      "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
      "posterior_mean_coef1", "posterior_mean_coef2", "logvar", "lvlb_weights",
      // SGM's DiscreteDenoiser buffer
      "denoiser.sigmas"};
  return schedule_buffers.count(key) > 0 || starts_with(key, "model_ema.") ||
         starts_with(key, "first_stage_model.loss.");
}

}  // namespace

single_file_components split_single_file(const weight_map& all, int text_encoder_layers) {
  // LDM (SD 1.x/2.x) and SGM (SDXL) name the same parts differently; text encoders go to their
  // diffusers component.
  const std::string unet_head = "model.diffusion_model.", vae_head = "first_stage_model.",
                    clip_head = "cond_stage_model.transformer.",
                    open_clip_head = "cond_stage_model.model.",
                    sgm_clip_head = "conditioner.embedders.0.transformer.",
                    sgm_open_clip_head = "conditioner.embedders.1.model.";
  std::vector<std::string> unet_keys, vae_keys;
  bool ldm_text = false, sgm_text = false;
  for (const auto& key : all.names()) {
    if (starts_with(key, unet_head)) unet_keys.push_back(key.substr(unet_head.size()));
    if (starts_with(key, vae_head) && !is_training_leftover(key))
      vae_keys.push_back(key.substr(vae_head.size()));
    ldm_text = ldm_text || starts_with(key, "cond_stage_model.");
    sgm_text = sgm_text || starts_with(key, "conditioner.");
  }
  if (ldm_text && sgm_text)
    throw model_error(
        "single-file checkpoint: both cond_stage_model.* (SD 1.x/2.x) and conditioner.* (SDXL) "
        "text encoders");
  const unet_layout unet(unet_keys);
  const vae_renamer vae(vae_keys);

  tensor_map unet_tensors, vae_tensors, text_tensors, text_2_tensors;
  std::vector<std::string> unmapped;
  bool open_clip = false;
  // CLIP ViT-L as transformers names it, under a prefix; "text_model." as older transformers.
  const auto add_clip = [&](const std::string& key, const std::string& head) {
    auto name = key.substr(head.size());
    if (!starts_with(name, "text_model.")) name = "text_model." + name;
    text_tensors[name] = all.get(key);
  };
  for (const auto& key : all.names()) {
    if (is_training_leftover(key)) continue;
    if (starts_with(key, unet_head)) {
      if (auto name = unet.rename(key.substr(unet_head.size())))
        unet_tensors[*name] = all.get(key);
      else
        unmapped.push_back(key);
    } else if (starts_with(key, vae_head)) {
      if (auto name = vae.rename(key.substr(vae_head.size()))) {
        auto tensor = all.get(key);
        if (name->second && tensor.dim() == 4) tensor = tensor.flatten(1);
        vae_tensors[name->first] = tensor;
      } else {
        unmapped.push_back(key);
      }
    } else if (starts_with(key, clip_head)) {
      add_clip(key, clip_head);
    } else if (starts_with(key, sgm_clip_head)) {
      add_clip(key, sgm_clip_head);
    } else if (starts_with(key, open_clip_head)) {
      open_clip = true;
      if (!add_open_clip(key.substr(open_clip_head.size()), all.get(key), false, text_tensors))
        unmapped.push_back(key);
    } else if (starts_with(key, sgm_open_clip_head)) {
      if (!add_open_clip(key.substr(sgm_open_clip_head.size()), all.get(key), true, text_2_tensors))
        unmapped.push_back(key);
    } else {
      unmapped.push_back(key);
    }
  }
  if (!unmapped.empty()) {
    std::string listed;
    for (size_t i = 0; i < unmapped.size() && i < 8; ++i) listed += (i ? ", " : "") + unmapped[i];
    if (unmapped.size() > 8)
      listed += ", ... (" + n(static_cast<int>(unmapped.size())) + " in all)";
    throw model_error(
        "single-file checkpoint: keys that do not map to a Stable Diffusion component: " + listed);
  }
  if (unet_tensors.empty())
    throw model_error("single-file checkpoint: no UNet weights (model.diffusion_model.*)");
  if (vae_tensors.empty())
    throw model_error("single-file checkpoint: no VAE weights (first_stage_model.*)");
  if (text_encoder_layers >= 0)
    for (auto it = text_tensors.begin(); it != text_tensors.end();)
      it = text_layer_index(it->first) >= text_encoder_layers ? text_tensors.erase(it)
                                                              : std::next(it);

  single_file_components components;
  components.unet = weight_map::from_tensors(std::move(unet_tensors));
  components.vae = weight_map::from_tensors(std::move(vae_tensors));
  components.text_encoder = weight_map::from_tensors(std::move(text_tensors));
  components.text_encoder_2 = weight_map::from_tensors(std::move(text_2_tensors));
  components.open_clip = open_clip;
  return components;
}

single_file_components load_single_file(const std::string& path, int text_encoder_layers) {
  try {
    const auto all = weight_map::open(path);
    detect_single_file_architecture(all);  // names what the file is when it is not SD1/2/XL
    return split_single_file(all, text_encoder_layers);
  } catch (const model_error& e) {
    throw model_error(path + ": " + e.what());
  }
}

}  // namespace muse::model
