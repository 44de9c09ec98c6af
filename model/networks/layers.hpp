#pragma once
// The building blocks diffusers' UNet2DConditionModel and AutoencoderKL are made of. Every module
// registers its children under the diffusers attribute names, so a state dict key such as
// "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight" lands on the parameter of
// that name with no key table. Optional children are registered only when the config has them.

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/formats/weights.hpp"

namespace muse::model {

// A diffusers component directory (unet/, vae/): its config.json and its weights (the files
// component_weight_files() picks: single, variant or sharded).
struct component_files {
  nlohmann::json config;
  weight_map weights;
};
component_files read_component(const std::string& dir);

// Reads one component's config.json: typed getters that name the key in their errors, and a
// final check that fails on any key nobody asked for (keys starting with "_" are metadata).
class config_reader {
 public:
  config_reader(const nlohmann::json& config, std::string component);

  bool has(const std::string& key) const;  // present and not null
  int get_int(const std::string& key, int fallback);
  double get_double(const std::string& key, double fallback);
  bool get_bool(const std::string& key, bool fallback);
  std::string get_string(const std::string& key, const std::string& fallback);
  std::vector<std::string> get_strings(const std::string& key,
                                       const std::vector<std::string>& fallback);
  // An int or a list of ints; an int is repeated `count` times.
  std::vector<int> get_ints(const std::string& key, const std::vector<int>& fallback, size_t count);
  // The key must be absent, null, or equal to one of `allowed` (the values this code implements).
  void expect(const std::string& key, const std::vector<nlohmann::json>& allowed);
  // Marks a key as read without using it (it changes nothing this code computes).
  void ignore(const std::string& key);
  // Throws model_error naming every key that was present but never read.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& why) const;

 private:
  const nlohmann::json* find(const std::string& key);
  const nlohmann::json& config_;
  std::string component_;
  std::vector<std::string> read_;
};

// Stores every 4-D parameter (convolution kernels) channels_last, so that convolutions run NHWC
// and their outputs stay NHWC: the layout the GPU's tensor cores and the fused kernels want.
void use_channels_last(torch::nn::Module& module);

// The weight layout the fused path wants, made once after loading: every attention's projections
// packed (cross_attention_impl::fuse_projections), every resnet's conv1 bias folded into its time
// projection's (resnet_block_impl::fold_biases). The state dict keeps its names and values.
void fuse_weights(torch::nn::Module& module);

// The activation diffusers configs name "silu" (or its alias "swish"); anything else is rejected.
void check_silu(config_reader& reader, const std::string& key);

// A Linear layer through at::linear: the module's own forward does matmul + a separate bias
// add for inputs of more than 2 dimensions, one extra pass over every activation.
torch::Tensor run_linear(const torch::nn::Linear& layer, const torch::Tensor& x);

// A convolution layer. On channels_last CUDA activations its bias is added by a fused kernel:
// libtorch's cuDNN path adds it in a broadcast pass of its own, at a third of the bandwidth.
torch::Tensor convolve(torch::nn::Conv2d conv, const torch::Tensor& x);

// SiLU / addition that reuse `fresh` (an intermediate nobody else holds) when no gradient is
// being recorded.
torch::Tensor silu_fresh(torch::Tensor fresh);
torch::Tensor add_fresh(torch::Tensor fresh, const torch::Tensor& other);

// Sinusoidal embedding of (possibly fractional) timesteps, computed in float32 as diffusers'
// get_timestep_embedding does. timesteps: (B) -> (B, dim).
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int dim, bool flip_sin_to_cos,
                                 double freq_shift);

// diffusers' TimestepEmbedding: linear_1 -> SiLU -> linear_2.
class timestep_mlp_impl : public torch::nn::Module {
 public:
  timestep_mlp_impl(int in_channels, int time_embed_dim);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear linear_1_{nullptr}, linear_2_{nullptr};
};
TORCH_MODULE_IMPL(timestep_mlp, timestep_mlp_impl);

struct resnet_options {
  int in_channels = 0;
  int out_channels = 0;
  int temb_channels = 0;  // 0: no time embedding (the VAE)
  int groups = 32;
  int groups_out = 0;  // 0: same as groups
  double eps = 1e-6;
  double output_scale_factor = 1.0;
};

// diffusers' ResnetBlock2D with time_embedding_norm "default" and SiLU.
class resnet_block_impl : public torch::nn::Module {
 public:
  explicit resnet_block_impl(const resnet_options& options);
  // temb: (B, temb_channels), the UNet's time embedding after its SiLU; undefined for the VAE.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});
  // Keeps time_emb_proj.bias + conv1.bias: the fused path adds both before norm2, and the time
  // projection's matrix product then adds them in its epilogue, with no kernel of their own.
  void fold_biases();

 private:
  // (B, C): what the fused path adds to conv1's output before norm2.
  torch::Tensor norm2_addend(const torch::Tensor& temb, int64_t batch) const;

  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv_shortcut_{nullptr};
  torch::nn::Linear time_emb_proj_{nullptr};
  torch::Tensor folded_bias_;  // defined once fold_biases() ran
  double output_scale_factor_;
};
TORCH_MODULE_IMPL(resnet_block, resnet_block_impl);

// diffusers' Downsample2D with a stride-2 conv; padding 0 pads right/bottom by one first (the VAE).
class downsample_impl : public torch::nn::Module {
 public:
  downsample_impl(int channels, int padding);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv_{nullptr};
  int padding_;
};
TORCH_MODULE_IMPL(downsample, downsample_impl);

// diffusers' Upsample2D: nearest x2 (or to `size` when the skip connection is odd-sized), conv.
class upsample_impl : public torch::nn::Module {
 public:
  explicit upsample_impl(int channels);
  torch::Tensor forward(const torch::Tensor& x, const std::vector<int64_t>& size = {});

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE_IMPL(upsample, upsample_impl);

// diffusers' Attention as the transformer blocks use it: to_q/to_k/to_v (no bias), to_out.0.
class cross_attention_impl : public torch::nn::Module {
 public:
  // context_dim 0: self-attention.
  cross_attention_impl(int query_dim, int context_dim, int heads, int head_dim, bool upcast);
  // x: (B, L, query_dim); context: (B, Lc, context_dim) or undefined for self-attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});
  // Packs the projections that read the same input (q, k, v for self-attention; k, v for
  // cross-attention) into one weight, so that one matrix product makes them. Call after loading.
  void fuse_projections();

 private:
  torch::nn::Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr}, to_out_{nullptr};
  int heads_;
  bool upcast_;
  bool self_attention_;
  torch::Tensor packed_;  // defined once fuse_projections() ran
};
TORCH_MODULE_IMPL(cross_attention, cross_attention_impl);

// FeedForward with GEGLU: net.0.proj (dim -> 2 x inner), value * gelu(gate), net.2 (inner -> dim).
class geglu_feed_forward_impl : public torch::nn::Module {
 public:
  explicit geglu_feed_forward_impl(int dim);
  torch::Tensor forward(const torch::Tensor& x);
  // residual + forward(x), where `residual` (contiguous, not needed afterwards) already holds
  // the output layer's bias (`output_bias()`): the last matrix product adds onto it in place
  // (cuBLAS's beta = 1), so the residual addition costs no pass of its own.
  torch::Tensor accumulate(const torch::Tensor& x, torch::Tensor residual_with_bias);
  const torch::Tensor& output_bias() const { return out_->bias; }

 private:
  torch::nn::Linear proj_{nullptr}, out_{nullptr};
};
TORCH_MODULE_IMPL(geglu_feed_forward, geglu_feed_forward_impl);

// BasicTransformerBlock (layer_norm, GEGLU): self-attention, cross-attention, feed-forward,
// each pre-normed and residual.
class transformer_block_impl : public torch::nn::Module {
 public:
  transformer_block_impl(int dim, int heads, int head_dim, int context_dim, bool upcast);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context);

 private:
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr};
  cross_attention attn1_{nullptr}, attn2_{nullptr};
  geglu_feed_forward ff_{nullptr};
};
TORCH_MODULE_IMPL(transformer_block, transformer_block_impl);

struct transformer_2d_options {
  int channels = 0;
  int heads = 8;
  int layers = 1;
  int context_dim = 768;
  int groups = 32;
  bool linear_projection = false;  // SD2: proj_in/proj_out are Linear, not 1x1 Conv
  bool upcast = false;
};

// Transformer2DModel on continuous inputs: GroupNorm, proj_in, transformer blocks, proj_out,
// plus the input as residual.
class transformer_2d_impl : public torch::nn::Module {
 public:
  explicit transformer_2d_impl(const transformer_2d_options& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::Linear linear_in_{nullptr}, linear_out_{nullptr};
  std::vector<transformer_block> blocks_;
};
TORCH_MODULE_IMPL(transformer_2d, transformer_2d_impl);

// The VAE mid-block attention (single head over all channels, GroupNorm first, residual).
class spatial_attention_impl : public torch::nn::Module {
 public:
  spatial_attention_impl(int channels, int groups, double eps);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm group_norm_{nullptr};
  torch::nn::Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr}, to_out_{nullptr};
};
TORCH_MODULE_IMPL(spatial_attention, spatial_attention_impl);

}  // namespace muse::model
