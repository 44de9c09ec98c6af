#include "model/networks/vae.hpp"

#include <algorithm>

#include "model/generator.hpp"
#include "model/networks/fused_ops.hpp"

namespace muse::model {

namespace nn = torch::nn;

namespace {

// AutoencoderKL fixes these (they are not in its config).
constexpr double vae_eps = 1e-6;

resnet_options vae_resnet(int in, int out, int groups) {
  resnet_options o;
  o.in_channels = in;
  o.out_channels = out;
  o.groups = groups;
  o.eps = vae_eps;
  return o;
}

nn::Conv2d conv3(int in, int out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }

nn::GroupNorm norm_out(int groups, int channels) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, channels).eps(vae_eps));
}

}  // namespace

vae_config vae_config::from_json(const nlohmann::json& json) {
  config_reader r(json, "vae");
  vae_config c;
  c.in_channels = r.get_int("in_channels", c.in_channels);
  c.out_channels = r.get_int("out_channels", c.out_channels);
  c.latent_channels = r.get_int("latent_channels", c.latent_channels);
  const auto down = r.get_strings("down_block_types", {"DownEncoderBlock2D"});
  const auto up = r.get_strings("up_block_types", {"UpDecoderBlock2D"});
  c.block_out_channels = r.get_ints("block_out_channels", c.block_out_channels, down.size());
  for (const auto& type : down)
    if (type != "DownEncoderBlock2D")
      r.fail("down_block_types",
             "has unsupported block type \"" + type + "\" (supported: DownEncoderBlock2D)");
  for (const auto& type : up)
    if (type != "UpDecoderBlock2D")
      r.fail("up_block_types",
             "has unsupported block type \"" + type + "\" (supported: UpDecoderBlock2D)");
  if (down.size() != c.block_out_channels.size() || up.size() != c.block_out_channels.size())
    r.fail("block_out_channels", "needs one entry per down and per up block");
  c.layers_per_block = r.get_int("layers_per_block", c.layers_per_block);
  if (c.layers_per_block <= 0) r.fail("layers_per_block", "must be positive");
  if (json.contains("norm_num_groups") && json["norm_num_groups"].is_null())
    r.fail("norm_num_groups", "= null is not supported");
  c.norm_num_groups = r.get_int("norm_num_groups", c.norm_num_groups);
  for (int channels : c.block_out_channels)
    if (channels <= 0 || channels % c.norm_num_groups != 0)
      r.fail("block_out_channels", "entry " + std::to_string(channels) +
                                       " is not a positive multiple of norm_num_groups " +
                                       std::to_string(c.norm_num_groups));
  if (r.has("sample_size") && json["sample_size"].is_array())
    c.sample_size = r.get_ints("sample_size", {}, 2).at(0);
  else
    c.sample_size = r.get_int("sample_size", c.sample_size);
  c.scaling_factor = r.get_double("scaling_factor", c.scaling_factor);
  if (c.scaling_factor <= 0) r.fail("scaling_factor", "must be positive");
  c.use_quant_conv = r.get_bool("use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = r.get_bool("use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention = r.get_bool("mid_block_add_attention", c.mid_block_add_attention);
  check_silu(r, "act_fn");
  // Latent shift and per-channel statistics belong to other pipelines (SD3, SDXL refiners).
  for (const char* key : {"shift_factor", "latents_mean", "latents_std"}) r.expect(key, {});
  c.force_upcast = r.get_bool("force_upcast", c.force_upcast);
  r.finish();
  return c;
}

vae_mid_block_impl::vae_mid_block_impl(int channels, int groups, bool attention) {
  nn::ModuleList resnets, attentions;
  first_ = resnet_block(vae_resnet(channels, channels, groups));
  second_ = resnet_block(vae_resnet(channels, channels, groups));
  resnets->push_back(first_);
  resnets->push_back(second_);
  if (attention) {
    attention_ = spatial_attention(channels, groups, vae_eps);
    attentions->push_back(attention_);
    register_module("attentions", attentions);
  }
  register_module("resnets", resnets);
}

torch::Tensor vae_mid_block_impl::forward(torch::Tensor x) {
  x = first_(x);
  if (attention_) x = attention_(x);
  return second_(x);
}

vae_block_impl::vae_block_impl(kind direction, int in_channels, int out_channels, int layers,
                               int groups, bool resample) {
  nn::ModuleList resnets;
  for (int i = 0; i < layers; ++i) {
    resnets_.push_back(
        resnet_block(vae_resnet(i == 0 ? in_channels : out_channels, out_channels, groups)));
    resnets->push_back(resnets_.back());
  }
  register_module("resnets", resnets);
  if (!resample) return;
  nn::ModuleList samplers;
  if (direction == kind::down) {
    downsampler_ = downsample(out_channels, 0);
    samplers->push_back(downsampler_);
    register_module("downsamplers", samplers);
  } else {
    upsampler_ = upsample(out_channels);
    samplers->push_back(upsampler_);
    register_module("upsamplers", samplers);
  }
}

torch::Tensor vae_block_impl::forward(torch::Tensor x) {
  for (auto& resnet : resnets_) x = resnet(x);
  if (downsampler_) return downsampler_(x);
  if (upsampler_) return upsampler_(x);
  return x;
}

vae_encoder_impl::vae_encoder_impl(const vae_config& c) {
  const auto& channels = c.block_out_channels;
  conv_in_ = register_module("conv_in", conv3(c.in_channels, channels.front()));
  nn::ModuleList down_blocks;
  int prev = channels.front();
  for (size_t i = 0; i < channels.size(); ++i) {
    down_blocks_.push_back(vae_block(vae_block_impl::kind::down, prev, channels[i],
                                     c.layers_per_block, c.norm_num_groups,
                                     i + 1 < channels.size()));
    down_blocks->push_back(down_blocks_.back());
    prev = channels[i];
  }
  register_module("down_blocks", down_blocks);
  mid_block_ = register_module(
      "mid_block", vae_mid_block(channels.back(), c.norm_num_groups, c.mid_block_add_attention));
  conv_norm_out_ = register_module("conv_norm_out", norm_out(c.norm_num_groups, channels.back()));
  conv_out_ = register_module("conv_out", conv3(channels.back(), 2 * c.latent_channels));
}

torch::Tensor vae_encoder_impl::forward(torch::Tensor x) {
  x = convolve(conv_in_, x.contiguous(conv_in_->weight.suggest_memory_format()));
  for (auto& block : down_blocks_) x = block(x);
  x = mid_block_(x);
  return convolve(conv_out_, group_norm(x, conv_norm_out_, true));
}

vae_decoder_impl::vae_decoder_impl(const vae_config& c) {
  auto channels = c.block_out_channels;
  std::reverse(channels.begin(), channels.end());
  conv_in_ = register_module("conv_in", conv3(c.latent_channels, channels.front()));
  mid_block_ = register_module(
      "mid_block", vae_mid_block(channels.front(), c.norm_num_groups, c.mid_block_add_attention));
  nn::ModuleList up_blocks;
  int prev = channels.front();
  for (size_t i = 0; i < channels.size(); ++i) {
    up_blocks_.push_back(vae_block(vae_block_impl::kind::up, prev, channels[i],
                                   c.layers_per_block + 1, c.norm_num_groups,
                                   i + 1 < channels.size()));
    up_blocks->push_back(up_blocks_.back());
    prev = channels[i];
  }
  register_module("up_blocks", up_blocks);
  conv_norm_out_ = register_module("conv_norm_out", norm_out(c.norm_num_groups, channels.back()));
  conv_out_ = register_module("conv_out", conv3(channels.back(), c.out_channels));
}

torch::Tensor vae_decoder_impl::forward(torch::Tensor x) {
  // The layout of the convolution weights (channels_last on CUDA) is the activations' layout.
  x = convolve(conv_in_, x.contiguous(conv_in_->weight.suggest_memory_format()));
  x = mid_block_(x);
  for (auto& block : up_blocks_) x = block(x);
  return convolve(conv_out_, group_norm(x, conv_norm_out_, true));
}

vae_model_impl::vae_model_impl(vae_config config) : config_(std::move(config)) {
  encoder_ = register_module("encoder", vae_encoder(config_));
  decoder_ = register_module("decoder", vae_decoder(config_));
  const int latent = config_.latent_channels;
  if (config_.use_quant_conv)
    quant_conv_ =
        register_module("quant_conv", nn::Conv2d(nn::Conv2dOptions(2 * latent, 2 * latent, 1)));
  if (config_.use_post_quant_conv)
    post_quant_conv_ =
        register_module("post_quant_conv", nn::Conv2d(nn::Conv2dOptions(latent, latent, 1)));
}

torch::Tensor vae_model_impl::decode(const torch::Tensor& latents) {
  if (latents.dim() != 4 || latents.size(1) != config_.latent_channels)
    throw model_error("vae: latents must be (B, " + std::to_string(config_.latent_channels) +
                      ", h, w), got " + c10::str(latents.sizes()));
  // The weights' dtype, which may be wider than the pipeline's (force_upcast).
  const auto x = latents.to(decoder_->parameters().front().scalar_type());
  return decoder_(post_quant_conv_ ? post_quant_conv_(x) : x);
}

torch::Tensor vae_model_impl::encode(const torch::Tensor& images) {
  return encode_moments(images).narrow(1, 0, config_.latent_channels);
}

torch::Tensor vae_model_impl::encode_moments(const torch::Tensor& images) {
  const int factor = downscale_factor();
  if (images.dim() != 4 || images.size(1) != config_.in_channels || images.size(2) % factor != 0 ||
      images.size(3) % factor != 0)
    throw model_error("vae: images must be (B, " + std::to_string(config_.in_channels) +
                      ", H, W) with H, W multiples of " + std::to_string(factor) + ", got " +
                      c10::str(images.sizes()));
  // The weights' dtype, which may be wider than the pipeline's (force_upcast).
  auto moments = encoder_(images.to(encoder_->parameters().front().scalar_type()));
  if (quant_conv_) moments = quant_conv_(moments);
  return moments;
}

namespace {

// Files saved before diffusers 0.14 name the mid-block attention's layers differently.
std::string modern_attention_name(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> renames = {
      {".query.", ".to_q."},
      {".key.", ".to_k."},
      {".value.", ".to_v."},
      {".proj_attn.", ".to_out.0."}};
  if (name.find("mid_block.attentions.") == std::string::npos) return name;
  for (const auto& [old_part, new_part] : renames) {
    const auto at = name.find(old_part);
    if (at != std::string::npos)
      return name.substr(0, at) + new_part + name.substr(at + old_part.size());
  }
  return name;
}

}  // namespace

vae_model load_vae(const nlohmann::json& config, const weight_map& weights, torch::Device device,
                   torch::Dtype dtype) {
  vae_model model(vae_config::from_json(config));
  model->to(device, dtype);
  try {
    load_module(*model, weights.renamed(modern_attention_name));
  } catch (const model_error& e) {
    throw model_error(std::string("vae: ") + e.what());
  }
  model->eval();
  return model;
}

vae_model load_vae(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  auto files = read_component(dir);
  try {
    return load_vae(files.config, files.weights, device, dtype);
  } catch (const model_error& e) {
    throw model_error(dir + ": " + e.what());
  }
}

}  // namespace muse::model
