#pragma once
// diffusers' AutoencoderKL: the decoder turns latents into images (the pipeline's last stage);
// the encoder turns images into the latent distribution (image to image starts from a sample of
// it; training and tests use its mean).
// Parameters carry the diffusers names ("decoder.up_blocks.0.resnets.0.conv1.weight").

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/formats/weights.hpp"
#include "model/networks/layers.hpp"

namespace muse::model {

struct vae_config {
  int in_channels = 3;
  int out_channels = 3;
  int latent_channels = 4;
  std::vector<int> block_out_channels{64};
  int layers_per_block = 1;
  int norm_num_groups = 32;
  int sample_size = 32;
  double scaling_factor = 0.18215;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  // The decoder overflows in float16 (the SDXL VAE): SDXL pipelines then decode in float32, as
  // diffusers' upcast_vae does. diffusers' AutoencoderKL defaults it to true; SD 1.x/2.x
  // pipelines never read it.
  bool force_upcast = true;
  bool upcasts(torch::Dtype pipeline_dtype) const {
    return force_upcast && pipeline_dtype == torch::kFloat16;
  }

  // Throws model_error naming any unknown key or unsupported value.
  static vae_config from_json(const nlohmann::json& config);
};

// The VAE's mid block: resnet, (attention), resnet, without time embedding.
class vae_mid_block_impl : public torch::nn::Module {
 public:
  vae_mid_block_impl(int channels, int groups, bool attention);
  torch::Tensor forward(torch::Tensor x);

 private:
  resnet_block first_{nullptr}, second_{nullptr};
  spatial_attention attention_{nullptr};
};
TORCH_MODULE_IMPL(vae_mid_block, vae_mid_block_impl);

// DownEncoderBlock2D or UpDecoderBlock2D: resnets, then an optional down/up sampler.
class vae_block_impl : public torch::nn::Module {
 public:
  enum class kind { down, up };
  vae_block_impl(kind direction, int in_channels, int out_channels, int layers, int groups,
                 bool resample);
  torch::Tensor forward(torch::Tensor x);

 private:
  std::vector<resnet_block> resnets_;
  downsample downsampler_{nullptr};
  upsample upsampler_{nullptr};
};
TORCH_MODULE_IMPL(vae_block, vae_block_impl);

class vae_encoder_impl : public torch::nn::Module {
 public:
  explicit vae_encoder_impl(const vae_config& config);
  torch::Tensor forward(torch::Tensor images);  // (B, 2 x latent_channels, h, w): mean, logvar

 private:
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  std::vector<vae_block> down_blocks_;
  vae_mid_block mid_block_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE_IMPL(vae_encoder, vae_encoder_impl);

class vae_decoder_impl : public torch::nn::Module {
 public:
  explicit vae_decoder_impl(const vae_config& config);
  torch::Tensor forward(torch::Tensor latents);

 private:
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  vae_mid_block mid_block_{nullptr};
  std::vector<vae_block> up_blocks_;
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE_IMPL(vae_decoder, vae_decoder_impl);

class vae_model_impl : public torch::nn::Module {
 public:
  explicit vae_model_impl(vae_config config);

  // latents: (B, latent_channels, h, w), ALREADY divided by scaling_factor(), of any float
  // dtype (cast to the weights'). Returns images (B, out_channels, h x f, w x f) in about
  // [-1, 1], in the weights' dtype.
  torch::Tensor decode(const torch::Tensor& latents);
  // images: (B, in_channels, H, W) in [-1, 1], H and W multiples of downscale_factor(), in any
  // dtype (cast to the weights'). Returns the latent distribution's mean (not yet multiplied by
  // scaling_factor()).
  torch::Tensor encode(const torch::Tensor& images);
  // The whole latent distribution: (B, 2 x latent_channels, h, w), the mean's channels then the
  // log-variance's (diffusers' DiagonalGaussianDistribution parameters).
  torch::Tensor encode_moments(const torch::Tensor& images);

  double scaling_factor() const { return config_.scaling_factor; }
  bool force_upcast() const { return config_.force_upcast; }
  int downscale_factor() const {
    return 1 << (static_cast<int>(config_.block_out_channels.size()) - 1);
  }
  int latent_channels() const { return config_.latent_channels; }
  const vae_config& config() const { return config_; }

 private:
  vae_config config_;
  vae_encoder encoder_{nullptr};
  vae_decoder decoder_{nullptr};
  torch::nn::Conv2d quant_conv_{nullptr}, post_quant_conv_{nullptr};
};
TORCH_MODULE_IMPL(vae_model, vae_model_impl);

// A diffusers vae/ directory (config.json + weights), on `device` in `dtype`, in eval mode.
// Both halves load, strictly; older files' attention names (query/key/value/proj_attn) are
// accepted.
vae_model load_vae(const std::string& dir, torch::Device device, torch::Dtype dtype);
vae_model load_vae(const nlohmann::json& config, const weight_map& weights, torch::Device device,
                   torch::Dtype dtype);

}  // namespace muse::model
