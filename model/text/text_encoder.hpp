#pragma once
// transformers' CLIPTextModel and CLIPTextModelWithProjection: token + position embeddings,
// pre-LayerNorm encoder layers with a causal mask, final LayerNorm; forward() returns
// last_hidden_state, encode() also the penultimate layer's states, the pooled output and the
// projected one (SDXL's conditioning). Parameter names follow the transformers state dict
// ("text_model.encoder.layers.0.self_attn.q_proj.weight", "text_projection.weight").

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "model/formats/weights.hpp"

namespace muse::model {

struct text_encoder_config {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // quick_gelu | gelu
  double layer_norm_eps = 1e-5;
  // The pooled output is the state at the first eos_token_id of each row; configs that say 2
  // (CLIP's own, SD 1.x and SDXL) take the largest id instead, as transformers does for them.
  int64_t eos_token_id = 49407;
  // CLIPTextModelWithProjection (its "architectures"): text_projection, hidden -> projection_dim,
  // without bias.
  bool with_projection = false;
  int64_t projection_dim = 512;

  // Throws model_error on missing/unsupported values.
  static text_encoder_config from_json(const nlohmann::json& json);
};

class clip_attention_impl : public torch::nn::Module {
 public:
  explicit clip_attention_impl(const text_encoder_config& config);
  torch::Tensor forward(const torch::Tensor& hidden);

 private:
  int64_t heads_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, out_proj_{nullptr};
};
TORCH_MODULE_IMPL(clip_attention, clip_attention_impl);

class clip_mlp_impl : public torch::nn::Module {
 public:
  explicit clip_mlp_impl(const text_encoder_config& config);
  torch::Tensor forward(const torch::Tensor& hidden);

 private:
  bool quick_gelu_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE_IMPL(clip_mlp, clip_mlp_impl);

class clip_encoder_layer_impl : public torch::nn::Module {
 public:
  explicit clip_encoder_layer_impl(const text_encoder_config& config);
  torch::Tensor forward(const torch::Tensor& hidden);

 private:
  clip_attention self_attn_{nullptr};
  torch::nn::LayerNorm layer_norm1_{nullptr}, layer_norm2_{nullptr};
  clip_mlp mlp_{nullptr};
};
TORCH_MODULE_IMPL(clip_encoder_layer, clip_encoder_layer_impl);

// What one text-encoder call returns; a member is undefined unless asked for.
struct text_encoder_output {
  torch::Tensor last_hidden_state;  // (B, L, hidden): after the final layer norm
  torch::Tensor penultimate;        // (B, L, hidden): hidden_states[-2], the last layer's input
  torch::Tensor pooled;             // (B, hidden): last_hidden_state at each row's EOS token
  torch::Tensor text_embeds;        // (B, projection_dim): text_projection(pooled), if projected
};

// Which outputs to compute: a bit set of these.
enum text_encoder_outputs : unsigned {
  last_hidden_output = 1u,
  penultimate_output = 2u,
  pooled_output = 4u,  // with text_embeds when the model has a projection
};

class clip_text_transformer_impl : public torch::nn::Module {
 public:
  explicit clip_text_transformer_impl(const text_encoder_config& config);
  torch::Tensor forward(const torch::Tensor& input_ids);
  // The outputs named in `wanted` (without text_embeds); the last layer and the final norm
  // run only when last_hidden_output or pooled_output is asked for.
  text_encoder_output run(const torch::Tensor& input_ids, unsigned wanted);

 private:
  torch::nn::Embedding token_embedding_{nullptr}, position_embedding_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  torch::nn::LayerNorm final_layer_norm_{nullptr};
  int64_t eos_token_id_;
};
TORCH_MODULE_IMPL(clip_text_transformer, clip_text_transformer_impl);

class text_encoder_impl : public torch::nn::Module {
 public:
  explicit text_encoder_impl(const text_encoder_config& config);
  // input_ids: (B, L) int64 -> last_hidden_state (B, L, hidden_size).
  torch::Tensor forward(const torch::Tensor& input_ids);
  // input_ids: (B, L) int64 -> the outputs named in `wanted` (text_encoder_outputs bits).
  text_encoder_output encode(const torch::Tensor& input_ids, unsigned wanted);
  const text_encoder_config& config() const { return config_; }

 private:
  text_encoder_config config_;
  clip_text_transformer text_model_{nullptr};
  torch::nn::Linear text_projection_{nullptr};
};
TORCH_MODULE_IMPL(text_encoder, text_encoder_impl);

// dir holds config.json and model.safetensors (or a sharded index).
text_encoder load_text_encoder(const std::string& dir, torch::Device device, torch::Dtype dtype);
text_encoder load_text_encoder(const nlohmann::json& config, const weight_map& weights,
                               torch::Device device, torch::Dtype dtype);

}  // namespace muse::model
