#include "model/networks/unet.hpp"

#include <algorithm>

#include "model/generator.hpp"
#include "model/networks/fused_ops.hpp"

namespace muse::model {

namespace nn = torch::nn;

namespace {

const char* const cross_down = "CrossAttnDownBlock2D";
const char* const plain_down = "DownBlock2D";
const char* const cross_up = "CrossAttnUpBlock2D";
const char* const plain_up = "UpBlock2D";

template <typename T>
std::vector<T> reversed(std::vector<T> values) {
  std::reverse(values.begin(), values.end());
  return values;
}

void check_count(config_reader& reader, const std::string& key, size_t got, size_t want) {
  if (got != want)
    reader.fail(key, "has " + std::to_string(got) + " entries but down_block_types has " +
                         std::to_string(want));
}

void check_positive(config_reader& reader, const std::string& key, const std::vector<int>& values) {
  for (int value : values)
    if (value <= 0) reader.fail(key, "entries must be positive, got " + std::to_string(value));
}

// The UNet's resnets all share the config's groups and eps.
resnet_options resnet(const unet_config& c, int in, int out, int temb, double scale = 1.0) {
  resnet_options o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = temb;
  o.groups = c.norm_num_groups;
  o.eps = c.norm_eps;
  o.output_scale_factor = scale;
  return o;
}

transformer_2d_options transformer(const unet_config& c, int channels, int heads, int layers,
                                   int context_dim) {
  transformer_2d_options o;
  o.channels = channels;
  o.heads = heads;
  o.layers = layers;
  o.context_dim = context_dim;
  o.groups = c.norm_num_groups;
  o.linear_projection = c.use_linear_projection;
  o.upcast = c.upcast_attention;
  return o;
}

}  // namespace

unet_config unet_config::from_json(const nlohmann::json& json) {
  config_reader r(json, "unet");
  unet_config c;
  c.down_block_types =
      r.get_strings("down_block_types", {cross_down, cross_down, cross_down, plain_down});
  const size_t n = c.down_block_types.size();
  c.up_block_types = r.get_strings("up_block_types", {plain_up, cross_up, cross_up, cross_up});
  c.mid_block_type = r.get_string("mid_block_type", c.mid_block_type);
  for (const auto& type : c.down_block_types)
    if (type != cross_down && type != plain_down)
      r.fail("down_block_types", "has unsupported block type \"" + type +
                                     "\" (supported: " + cross_down + ", " + plain_down + ")");
  for (const auto& type : c.up_block_types)
    if (type != cross_up && type != plain_up)
      r.fail("up_block_types", "has unsupported block type \"" + type +
                                   "\" (supported: " + cross_up + ", " + plain_up + ")");
  if (c.mid_block_type != "UNetMidBlock2DCrossAttn")
    r.fail("mid_block_type",
           "= \"" + c.mid_block_type + "\" is not supported (supported: UNetMidBlock2DCrossAttn)");
  check_count(r, "up_block_types", c.up_block_types.size(), n);

  c.in_channels = r.get_int("in_channels", c.in_channels);
  c.out_channels = r.get_int("out_channels", c.out_channels);
  if (r.has("sample_size") && json["sample_size"].is_array()) {
    const auto sizes = r.get_ints("sample_size", {}, 2);
    c.sample_size = sizes.at(0);
  } else {
    c.sample_size = r.get_int("sample_size", c.sample_size);
  }
  c.center_input_sample = r.get_bool("center_input_sample", c.center_input_sample);
  c.flip_sin_to_cos = r.get_bool("flip_sin_to_cos", c.flip_sin_to_cos);
  c.freq_shift = r.get_double("freq_shift", c.freq_shift);

  c.block_out_channels = r.get_ints("block_out_channels", {320, 640, 1280, 1280}, n);
  check_count(r, "block_out_channels", c.block_out_channels.size(), n);
  check_positive(r, "block_out_channels", c.block_out_channels);
  c.layers_per_block = r.get_ints("layers_per_block", {2}, n);
  check_count(r, "layers_per_block", c.layers_per_block.size(), n);
  check_positive(r, "layers_per_block", c.layers_per_block);
  c.transformer_layers_per_block = r.get_ints("transformer_layers_per_block", {1}, n);
  check_count(r, "transformer_layers_per_block", c.transformer_layers_per_block.size(), n);
  check_positive(r, "transformer_layers_per_block", c.transformer_layers_per_block);
  c.cross_attention_dim = r.get_ints("cross_attention_dim", {1280}, n);
  check_count(r, "cross_attention_dim", c.cross_attention_dim.size(), n);
  check_positive(r, "cross_attention_dim", c.cross_attention_dim);
  // diffusers' naming quirk: without num_attention_heads, "attention_head_dim" holds the number
  // of heads (SD1: 8; SD2: [5, 10, 20, 20]), and each head is channels / heads wide.
  const auto head_setting = r.get_ints("attention_head_dim", {8}, n);
  if (r.has("num_attention_heads")) {
    c.attention_heads = r.get_ints("num_attention_heads", {}, n);
    check_count(r, "num_attention_heads", c.attention_heads.size(), n);
  } else {
    r.ignore("num_attention_heads");
    c.attention_heads = head_setting;
    check_count(r, "attention_head_dim", c.attention_heads.size(), n);
  }
  check_positive(r, r.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim",
                 c.attention_heads);

  c.downsample_padding = r.get_int("downsample_padding", c.downsample_padding);
  if (c.downsample_padding < 0) r.fail("downsample_padding", "must not be negative");
  c.mid_block_scale_factor = r.get_double("mid_block_scale_factor", c.mid_block_scale_factor);
  if (json.contains("norm_num_groups") && json["norm_num_groups"].is_null())
    r.fail("norm_num_groups", "= null is not supported");
  c.norm_num_groups = r.get_int("norm_num_groups", c.norm_num_groups);
  c.norm_eps = r.get_double("norm_eps", c.norm_eps);
  c.use_linear_projection = r.get_bool("use_linear_projection", c.use_linear_projection);
  c.upcast_attention = r.get_bool("upcast_attention", c.upcast_attention);
  c.time_embedding_dim = r.get_int("time_embedding_dim", 0);
  if (r.has("time_embedding_act_fn")) {
    check_silu(r, "time_embedding_act_fn");
    c.time_embedding_act = true;
  } else {
    r.ignore("time_embedding_act_fn");
  }
  c.conv_in_kernel = r.get_int("conv_in_kernel", c.conv_in_kernel);
  c.conv_out_kernel = r.get_int("conv_out_kernel", c.conv_out_kernel);
  if (c.conv_in_kernel % 2 == 0 || c.conv_in_kernel <= 0)
    r.fail("conv_in_kernel", "must be odd and positive");
  if (c.conv_out_kernel % 2 == 0 || c.conv_out_kernel <= 0)
    r.fail("conv_out_kernel", "must be odd and positive");

  check_silu(r, "act_fn");
  r.expect("time_embedding_type", {"positional"});
  r.expect("resnet_time_scale_shift", {"default"});
  r.expect("attention_type", {"default"});
  for (const char* key :
       {"dual_cross_attention", "class_embeddings_concat", "resnet_skip_time_act"})
    r.expect(key, {false});
  r.expect("mid_block_only_cross_attention", {false});
  if (r.has("only_cross_attention") && json["only_cross_attention"].is_array()) {
    for (const auto& value : json["only_cross_attention"])
      if (value != false)
        r.fail("only_cross_attention",
               "= " + json["only_cross_attention"].dump() + " is not supported");
    r.ignore("only_cross_attention");
  } else {
    r.expect("only_cross_attention", {false});
  }
  r.expect("addition_embed_type", {"text_time"});
  if (r.has("addition_embed_type")) {
    c.addition_time_embed_dim = r.get_int("addition_time_embed_dim", 0);
    c.projection_class_embeddings_input_dim = r.get_int("projection_class_embeddings_input_dim", 0);
    if (c.addition_time_embed_dim <= 0)
      r.fail("addition_time_embed_dim", "must be positive with addition_embed_type \"text_time\"");
    if (c.text_embeds_dim() <= 0)
      r.fail("projection_class_embeddings_input_dim",
             "= " + std::to_string(c.projection_class_embeddings_input_dim) +
                 " leaves no room for a pooled text embedding beside 6 time ids of " +
                 std::to_string(c.addition_time_embed_dim));
  }
  if (!c.text_time())
    for (const char* key : {"addition_time_embed_dim", "projection_class_embeddings_input_dim"})
      r.expect(key, {});
  for (const char* key : {"class_embed_type", "num_class_embeds", "encoder_hid_dim",
                          "encoder_hid_dim_type", "time_cond_proj_dim", "timestep_post_act",
                          "reverse_transformer_layers_per_block", "cross_attention_norm"})
    r.expect(key, {});
  // Dropout does nothing at inference; the other two only matter for block types and added
  // embeddings ("text_image") this code rejects.
  for (const char* key : {"dropout", "resnet_out_scale_factor", "addition_embed_type_num_heads"})
    r.ignore(key);
  r.finish();

  for (size_t i = 0; i < n; ++i) {
    if (c.block_out_channels[i] % c.norm_num_groups != 0)
      r.fail("block_out_channels", "entry " + std::to_string(c.block_out_channels[i]) +
                                       " is not a multiple of norm_num_groups " +
                                       std::to_string(c.norm_num_groups));
    if (c.block_out_channels[i] % c.attention_heads[i] != 0)
      r.fail("attention_head_dim", "gives " + std::to_string(c.attention_heads[i]) +
                                       " heads, which do not divide " +
                                       std::to_string(c.block_out_channels[i]) + " channels");
  }
  return c;
}

// ---- blocks ----

unet_down_block_impl::unet_down_block_impl(const unet_config& c, size_t index, int in_channels,
                                           int temb) {
  const int out = c.block_out_channels[index];
  const bool cross = c.down_block_types[index] == cross_down;
  nn::ModuleList resnets, attentions;
  for (int i = 0; i < c.layers_per_block[index]; ++i) {
    resnets_.push_back(resnet_block(resnet(c, i == 0 ? in_channels : out, out, temb)));
    resnets->push_back(resnets_.back());
    if (!cross) continue;
    attentions_.push_back(transformer_2d(transformer(c, out, c.attention_heads[index],
                                                     c.transformer_layers_per_block[index],
                                                     c.cross_attention_dim[index])));
    attentions->push_back(attentions_.back());
  }
  register_module("resnets", resnets);
  if (cross) register_module("attentions", attentions);
  if (index + 1 < c.block_out_channels.size()) {
    downsampler_ = downsample(out, c.downsample_padding);
    nn::ModuleList downsamplers;
    downsamplers->push_back(downsampler_);
    register_module("downsamplers", downsamplers);
  }
}

torch::Tensor unet_down_block_impl::forward(torch::Tensor x, const torch::Tensor& temb,
                                            const torch::Tensor& context,
                                            std::vector<torch::Tensor>& skips) {
  for (size_t i = 0; i < resnets_.size(); ++i) {
    x = resnets_[i](x, temb);
    if (!attentions_.empty()) x = attentions_[i](x, context);
    skips.push_back(x);
  }
  if (downsampler_) {
    x = downsampler_(x);
    skips.push_back(x);
  }
  return x;
}

unet_mid_block_impl::unet_mid_block_impl(const unet_config& c, int temb) {
  const int channels = c.block_out_channels.back();
  nn::ModuleList resnets, attentions;
  resnets_.push_back(resnet_block(resnet(c, channels, channels, temb, c.mid_block_scale_factor)));
  attentions_.push_back(transformer_2d(transformer(c, channels, c.attention_heads.back(),
                                                   c.transformer_layers_per_block.back(),
                                                   c.cross_attention_dim.back())));
  resnets_.push_back(resnet_block(resnet(c, channels, channels, temb, c.mid_block_scale_factor)));
  for (auto& block : resnets_) resnets->push_back(block);
  attentions->push_back(attentions_.front());
  register_module("attentions", attentions);
  register_module("resnets", resnets);
}

torch::Tensor unet_mid_block_impl::forward(torch::Tensor x, const torch::Tensor& temb,
                                           const torch::Tensor& context) {
  x = resnets_[0](x, temb);
  for (size_t i = 0; i < attentions_.size(); ++i)
    x = resnets_[i + 1](attentions_[i](x, context), temb);
  return x;
}

unet_up_block_impl::unet_up_block_impl(const unet_config& c, size_t index, int prev_output_channels,
                                       int temb) {
  const auto channels = reversed(c.block_out_channels);
  const size_t n = channels.size();
  const int out = channels[index];
  const int in = channels[std::min(index + 1, n - 1)];
  const bool cross = c.up_block_types[index] == cross_up;
  const int layers = reversed(c.layers_per_block)[index] + 1;
  nn::ModuleList resnets, attentions;
  for (int i = 0; i < layers; ++i) {
    const int skip_channels = i == layers - 1 ? in : out;
    const int resnet_in = i == 0 ? prev_output_channels : out;
    resnets_.push_back(resnet_block(resnet(c, resnet_in + skip_channels, out, temb)));
    resnets->push_back(resnets_.back());
    if (!cross) continue;
    attentions_.push_back(transformer_2d(transformer(
        c, out, reversed(c.attention_heads)[index], reversed(c.transformer_layers_per_block)[index],
        reversed(c.cross_attention_dim)[index])));
    attentions->push_back(attentions_.back());
  }
  register_module("resnets", resnets);
  if (cross) register_module("attentions", attentions);
  if (index + 1 < n) {
    upsampler_ = upsample(out);
    nn::ModuleList upsamplers;
    upsamplers->push_back(upsampler_);
    register_module("upsamplers", upsamplers);
  }
}

torch::Tensor unet_up_block_impl::forward(torch::Tensor x, const torch::Tensor& temb,
                                          const torch::Tensor& context,
                                          std::vector<torch::Tensor>& skips,
                                          const std::vector<int64_t>& upsample_size) {
  for (size_t i = 0; i < resnets_.size(); ++i) {
    x = resnets_[i](concat_channels(x, skips.back()), temb);
    skips.pop_back();
    if (!attentions_.empty()) x = attentions_[i](x, context);
  }
  return upsampler_ ? upsampler_(x, upsample_size) : x;
}

// ---- model ----

unet_model_impl::unet_model_impl(unet_config config) : config_(std::move(config)) {
  const auto& c = config_;
  const int first = c.block_out_channels.front();
  const int temb = c.time_embedding_dim > 0 ? c.time_embedding_dim : first * 4;
  conv_in_ = register_module(
      "conv_in",
      nn::Conv2d(
          nn::Conv2dOptions(c.in_channels, first, c.conv_in_kernel).padding(c.conv_in_kernel / 2)));
  time_embedding_ = register_module("time_embedding", timestep_mlp(first, temb));
  if (c.text_time())
    add_embedding_ = register_module("add_embedding",
                                     timestep_mlp(c.projection_class_embeddings_input_dim, temb));

  nn::ModuleList down_blocks, up_blocks;
  int channels = first;
  for (size_t i = 0; i < c.down_block_types.size(); ++i) {
    down_blocks_.push_back(unet_down_block(c, i, channels, temb));
    down_blocks->push_back(down_blocks_.back());
    channels = c.block_out_channels[i];
  }
  register_module("down_blocks", down_blocks);
  mid_block_ = register_module("mid_block", unet_mid_block(c, temb));
  const auto reversed_channels = reversed(c.block_out_channels);
  int prev = reversed_channels.front();
  for (size_t i = 0; i < c.up_block_types.size(); ++i) {
    up_blocks_.push_back(unet_up_block(c, i, prev, temb));
    up_blocks->push_back(up_blocks_.back());
    prev = reversed_channels[i];
  }
  register_module("up_blocks", up_blocks);
  conv_norm_out_ = register_module(
      "conv_norm_out",
      nn::GroupNorm(nn::GroupNormOptions(c.norm_num_groups, first).eps(c.norm_eps)));
  conv_out_ = register_module("conv_out",
                              nn::Conv2d(nn::Conv2dOptions(first, c.out_channels, c.conv_out_kernel)
                                             .padding(c.conv_out_kernel / 2)));
}

torch::Tensor unet_model_impl::text_time_embedding(const text_time_conditioning& added,
                                                   int64_t batch, const torch::Tensor& sample) {
  const auto& c = config_;
  const auto& text = added.text_embeds;
  const auto& ids = added.time_ids;
  if (!text.defined() || !ids.defined())
    throw model_error(
        "unet: a model with addition_embed_type \"text_time\" needs text_embeds "
        "and time_ids");
  if (text.dim() != 2 || ids.dim() != 2 || text.size(0) != batch || ids.size(0) != batch)
    throw model_error(
        "unet: text_embeds and time_ids must be (B, n) with B = " + std::to_string(batch) +
        ", got " + c10::str(text.sizes()) + " and " + c10::str(ids.sizes()));
  if (text.size(1) + ids.size(1) * c.addition_time_embed_dim !=
      c.projection_class_embeddings_input_dim)
    throw model_error("unet: text_embeds " + c10::str(text.sizes()) + " and time_ids " +
                      c10::str(ids.sizes()) + " give " +
                      std::to_string(text.size(1) + ids.size(1) * c.addition_time_embed_dim) +
                      " features, projection_class_embeddings_input_dim is " +
                      std::to_string(c.projection_class_embeddings_input_dim));
  // diffusers' add_time_proj embeds every id like a timestep (float32), then concatenates
  // [text_embeds, time embeddings] and casts to the time embedding's dtype.
  const auto times = timestep_embedding(ids.to(sample.device()).flatten(),
                                        c.addition_time_embed_dim, c.flip_sin_to_cos, c.freq_shift)
                         .reshape({batch, -1});
  const auto features = torch::cat(
      {text.to(sample.device(), sample.scalar_type()), times.to(sample.scalar_type())}, 1);
  return add_embedding_(features);
}

torch::Tensor unet_model_impl::forward(torch::Tensor sample, torch::Tensor timesteps,
                                       const torch::Tensor& encoder_hidden_states,
                                       const text_time_conditioning& added) {
  const auto& c = config_;
  if (sample.dim() != 4 || sample.size(1) != c.in_channels)
    throw model_error("unet: sample must be (B, " + std::to_string(c.in_channels) +
                      ", h, w), got " + c10::str(sample.sizes()));
  const auto batch = sample.size(0);
  if (encoder_hidden_states.dim() != 3 || encoder_hidden_states.size(0) != batch)
    throw model_error("unet: encoder_hidden_states must be (B, L, D) with B = " +
                      std::to_string(batch) + ", got " + c10::str(encoder_hidden_states.sizes()));
  if (timesteps.dim() == 0) timesteps = timesteps.reshape({1});
  if (timesteps.dim() != 1)
    throw model_error("unet: timesteps must be 1-D, got " + c10::str(timesteps.sizes()));
  if (timesteps.size(0) == 1 && batch != 1) timesteps = timesteps.expand({batch});
  if (timesteps.size(0) != batch)
    throw model_error("unet: " + std::to_string(timesteps.size(0)) + " timesteps for a batch of " +
                      std::to_string(batch));

  // A size that is not a multiple of the total upsampling leaves odd skips: each upsampler then
  // resizes to its skip's size instead of doubling, as diffusers does.
  const int64_t factor = int64_t{1} << c.downsamplings();
  const bool forced_sizes = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;

  if (c.center_input_sample) sample = 2 * sample - 1.0;
  auto t_emb = timestep_embedding(timesteps.to(sample.device()), c.block_out_channels.front(),
                                  c.flip_sin_to_cos, c.freq_shift)
                   .to(sample.scalar_type());
  auto emb = time_embedding_(t_emb);
  if (add_embedding_)
    emb = add_fresh(emb, text_time_embedding(added, batch, sample));
  else if (added.text_embeds.defined() || added.time_ids.defined())
    throw model_error("unet: text_embeds/time_ids given to a model without addition_embed_type");
  if (c.time_embedding_act) emb = torch::silu(emb);
  // Every resnet projects SiLU(emb): activate it once here.
  emb = torch::silu(emb);

  auto x = convolve(conv_in_, sample.contiguous(activation_format()));
  std::vector<torch::Tensor> skips{x};
  for (auto& block : down_blocks_) x = block(x, emb, encoder_hidden_states, skips);
  x = mid_block_(x, emb, encoder_hidden_states);
  for (auto& block : up_blocks_) {
    std::vector<int64_t> size;
    if (forced_sizes && block->has_upsampler()) {
      const auto& next_skip = skips[skips.size() - block->layers() - 1];
      size = {next_skip.size(2), next_skip.size(3)};
    }
    x = block(x, emb, encoder_hidden_states, skips, size);
  }
  return convolve(conv_out_, group_norm(x, conv_norm_out_, true)).contiguous();
}

unet_model load_unet(const nlohmann::json& config, const weight_map& weights, torch::Device device,
                     torch::Dtype dtype) {
  unet_model model(unet_config::from_json(config));
  model->to(device, dtype);
  try {
    load_module(*model, weights);
  } catch (const model_error& e) {
    throw model_error(std::string("unet: ") + e.what());
  }
  model->eval();
  return model;
}

unet_model load_unet(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  auto files = read_component(dir);
  try {
    return load_unet(files.config, files.weights, device, dtype);
  } catch (const model_error& e) {
    throw model_error(dir + ": " + e.what());
  }
}

}  // namespace muse::model
