#pragma once
// diffusers' UNet2DConditionModel (the Stable Diffusion 1.x/2.x/XL denoiser): conv_in, a sinusoidal
// time embedding (plus SDXL's "text_time" added conditioning), down blocks (CrossAttnDownBlock2D,
// DownBlock2D), UNetMidBlock2DCrossAttn, up blocks (CrossAttnUpBlock2D, UpBlock2D), conv_out.
// Parameters carry the diffusers names.

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/formats/weights.hpp"
#include "model/networks/layers.hpp"

namespace muse::model {

// The architecture, from the component's config.json. Lists hold one value per down block
// (in down-block order); the up path uses them reversed, as diffusers does.
struct unet_config {
  int in_channels = 4;
  int out_channels = 4;
  int sample_size = 64;  // latent height/width the model was trained at
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types;
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";
  std::vector<std::string> up_block_types;
  std::vector<int> block_out_channels;
  std::vector<int> layers_per_block;
  std::vector<int> transformer_layers_per_block;
  std::vector<int> attention_heads;  // heads per block (attention_head_dim's naming quirk resolved)
  std::vector<int> cross_attention_dim;
  int downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  int norm_num_groups = 32;
  double norm_eps = 1e-5;
  bool use_linear_projection = false;
  bool upcast_attention = false;
  int time_embedding_dim = 0;  // 0: 4 x block_out_channels[0]
  bool time_embedding_act = false;
  int conv_in_kernel = 3;
  int conv_out_kernel = 3;
  // SDXL's addition_embed_type "text_time" (0, 0 without it): each time id is embedded like a
  // timestep at addition_time_embed_dim wide; the pooled text embedding and the flattened time
  // embeddings, projection_class_embeddings_input_dim in all, go through add_embedding.
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;

  bool text_time() const { return addition_time_embed_dim > 0; }
  // The pooled text embedding's width with SDXL base's 6 time ids (original size, crop top-left,
  // target size).
  int text_embeds_dim() const {
    return projection_class_embeddings_input_dim - 6 * addition_time_embed_dim;
  }

  // Throws model_error naming any unknown key or unsupported value.
  static unet_config from_json(const nlohmann::json& config);
  // How many times the latents are halved (and doubled back): the input size must be a
  // multiple of 2^this to avoid odd skip sizes (which still work, as in diffusers).
  int downsamplings() const { return static_cast<int>(block_out_channels.size()) - 1; }
};

class unet_down_block_impl : public torch::nn::Module {
 public:
  unet_down_block_impl(const unet_config& config, size_t index, int in_channels, int temb_channels);
  // Appends every resnet/attention output (and the downsampled one) to `skips`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& skips);

 private:
  std::vector<resnet_block> resnets_;
  std::vector<transformer_2d> attentions_;
  downsample downsampler_{nullptr};
};
TORCH_MODULE_IMPL(unet_down_block, unet_down_block_impl);

class unet_mid_block_impl : public torch::nn::Module {
 public:
  unet_mid_block_impl(const unet_config& config, int temb_channels);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb, const torch::Tensor& context);

 private:
  std::vector<resnet_block> resnets_;
  std::vector<transformer_2d> attentions_;
};
TORCH_MODULE_IMPL(unet_mid_block, unet_mid_block_impl);

class unet_up_block_impl : public torch::nn::Module {
 public:
  // index: position among the up blocks (0 = deepest).
  unet_up_block_impl(const unet_config& config, size_t index, int prev_output_channels,
                     int temb_channels);
  // Consumes skips from the back of `skips`; `upsample_size` forces the upsampler's output size.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& skips,
                        const std::vector<int64_t>& upsample_size);
  bool has_upsampler() const { return !upsampler_.is_empty(); }
  size_t layers() const { return resnets_.size(); }

 private:
  std::vector<resnet_block> resnets_;
  std::vector<transformer_2d> attentions_;
  upsample upsampler_{nullptr};
};
TORCH_MODULE_IMPL(unet_up_block, unet_up_block_impl);

// diffusers' added_cond_kwargs for addition_embed_type "text_time" (SDXL): both (B, ...) rows
// aligned with the sample's.
struct text_time_conditioning {
  torch::Tensor text_embeds;  // (B, text_embeds_dim): the second text encoder's pooled output
  torch::Tensor time_ids;     // (B, 6): original size, crop top-left, target size (h, w each)
};

class unet_model_impl : public torch::nn::Module {
 public:
  explicit unet_model_impl(unet_config config);

  // sample: (B, in_channels, h, w); timesteps: (B) float, one per sample (a 0-d or 1-element
  // tensor is broadcast); encoder_hidden_states: (B, L, cross_attention_dim); `added`: required
  // by (and only by) a "text_time" model. Returns the model output (noise or v), shaped like
  // sample.
  torch::Tensor forward(torch::Tensor sample, torch::Tensor timesteps,
                        const torch::Tensor& encoder_hidden_states,
                        const text_time_conditioning& added = {});

  const unet_config& config() const { return config_; }
  // The memory layout activations run in: the convolution weights' (channels_last on CUDA).
  torch::MemoryFormat activation_format() const { return conv_in_->weight.suggest_memory_format(); }

 private:
  unet_config config_;
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  // (B, time embedding): add_embedding of the pooled text and the time ids' embeddings.
  torch::Tensor text_time_embedding(const text_time_conditioning& added, int64_t batch,
                                    const torch::Tensor& sample);

  timestep_mlp time_embedding_{nullptr}, add_embedding_{nullptr};
  std::vector<unet_down_block> down_blocks_;
  unet_mid_block mid_block_{nullptr};
  std::vector<unet_up_block> up_blocks_;
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE_IMPL(unet_model, unet_model_impl);

// A diffusers unet/ directory (config.json + weights), on `device` in `dtype`, in eval mode.
unet_model load_unet(const std::string& dir, torch::Device device, torch::Dtype dtype);
// The same from a parsed config and weights in diffusers naming (e.g. from a single file).
unet_model load_unet(const nlohmann::json& config, const weight_map& weights, torch::Device device,
                     torch::Dtype dtype);

}  // namespace muse::model
