#include "model/networks/layers.hpp"

#include <torch/version.h>

#include <algorithm>
#include <cmath>

#include "model/formats/model_dir.hpp"
#include "model/generator.hpp"
#include "model/networks/attention.hpp"
#include "model/networks/fused_ops.hpp"
#include "model/networks/lora.hpp"

namespace muse::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// ---- component directories ----

component_files read_component(const std::string& dir) {
  auto config = read_json_file(dir + "/config.json");
  return {std::move(config), weight_map::open_many(component_weight_files(dir))};
}

// ---- config_reader ----

config_reader::config_reader(const nlohmann::json& config, std::string component)
    : config_(config), component_(std::move(component)) {
  if (!config_.is_object()) throw model_error(component_ + " config: expected a JSON object");
}

void config_reader::fail(const std::string& key, const std::string& why) const {
  throw model_error(component_ + " config: '" + key + "' " + why);
}

const nlohmann::json* config_reader::find(const std::string& key) {
  read_.push_back(key);
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool config_reader::has(const std::string& key) const {
  auto it = config_.find(key);
  return it != config_.end() && !it->is_null();
}

int config_reader::get_int(const std::string& key, int fallback) {
  const auto* value = find(key);
  if (!value) return fallback;
  if (!value->is_number_integer()) fail(key, "must be an integer, got " + value->dump());
  return value->get<int>();
}

double config_reader::get_double(const std::string& key, double fallback) {
  const auto* value = find(key);
  if (!value) return fallback;
  if (!value->is_number()) fail(key, "must be a number, got " + value->dump());
  return value->get<double>();
}

bool config_reader::get_bool(const std::string& key, bool fallback) {
  const auto* value = find(key);
  if (!value) return fallback;
  if (!value->is_boolean()) fail(key, "must be true or false, got " + value->dump());
  return value->get<bool>();
}

std::string config_reader::get_string(const std::string& key, const std::string& fallback) {
  const auto* value = find(key);
  if (!value) return fallback;
  if (!value->is_string()) fail(key, "must be a string, got " + value->dump());
  return value->get<std::string>();
}

std::vector<std::string> config_reader::get_strings(const std::string& key,
                                                    const std::vector<std::string>& fallback) {
  const auto* value = find(key);
  if (!value) return fallback;
  if (!value->is_array() || value->empty())
    fail(key, "must be a non-empty list of strings, got " + value->dump());
  std::vector<std::string> out;
  for (const auto& item : *value) {
    if (!item.is_string()) fail(key, "must be a list of strings, got " + value->dump());
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<int> config_reader::get_ints(const std::string& key, const std::vector<int>& fallback,
                                         size_t count) {
  const auto* value = find(key);
  if (!value)
    return fallback.size() == 1 && count > 1 ? std::vector<int>(count, fallback[0]) : fallback;
  if (value->is_number_integer()) return std::vector<int>(count, value->get<int>());
  if (!value->is_array() || value->empty())
    fail(key, "must be an integer or a list of integers, got " + value->dump());
  std::vector<int> out;
  for (const auto& item : *value) {
    if (!item.is_number_integer())
      fail(key, "must be an integer or a list of integers, got " + value->dump());
    out.push_back(item.get<int>());
  }
  return out;
}

void config_reader::expect(const std::string& key, const std::vector<nlohmann::json>& allowed) {
  const auto* value = find(key);
  if (!value) return;
  for (const auto& ok : allowed)
    if (*value == ok) return;
  std::string expected;
  for (const auto& ok : allowed) expected += (expected.empty() ? "" : " or ") + ok.dump();
  fail(key, "= " + value->dump() +
                " is not supported (supported: " + (expected.empty() ? "null" : expected) + ")");
}

void config_reader::ignore(const std::string& key) { read_.push_back(key); }

void config_reader::finish() const {
  std::string unknown;
  for (const auto& item : config_.items()) {
    if (!item.key().empty() && item.key()[0] == '_') continue;
    if (std::find(read_.begin(), read_.end(), item.key()) != read_.end()) continue;
    unknown += (unknown.empty() ? "" : ", ") + item.key() + " = " + item.value().dump();
  }
  if (!unknown.empty()) throw model_error(component_ + " config: unsupported keys: " + unknown);
}

void use_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : module.parameters())
    if (parameter.dim() == 4)
      parameter.set_data(parameter.contiguous(torch::MemoryFormat::ChannelsLast));
}

void fuse_weights(torch::nn::Module& module) {
  for (const auto& child : module.modules(/*include_self=*/false)) {
    if (auto attention = std::dynamic_pointer_cast<cross_attention_impl>(child))
      attention->fuse_projections();
    if (auto resnet = std::dynamic_pointer_cast<resnet_block_impl>(child)) resnet->fold_biases();
  }
}

void check_silu(config_reader& reader, const std::string& key) {
  reader.expect(key, {"silu", "swish"});
}

// ---- time embedding ----

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int dim, bool flip_sin_to_cos,
                                 double freq_shift) {
  TORCH_CHECK(timesteps.dim() == 1, "timesteps must be 1-D");
  const int64_t half = dim / 2;
  auto options = torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device());
  auto exponent = torch::arange(0, half, options) * (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half) - freq_shift);
  auto angles = timesteps.to(torch::kFloat32).unsqueeze(1) * exponent.exp().unsqueeze(0);
  auto emb = flip_sin_to_cos ? torch::cat({angles.cos(), angles.sin()}, -1)
                             : torch::cat({angles.sin(), angles.cos()}, -1);
  if (dim % 2 == 1) emb = F::pad(emb, F::PadFuncOptions({0, 1, 0, 0}));
  return emb;
}

timestep_mlp_impl::timestep_mlp_impl(int in_channels, int time_embed_dim) {
  linear_1_ = register_module("linear_1", nn::Linear(in_channels, time_embed_dim));
  linear_2_ = register_module("linear_2", nn::Linear(time_embed_dim, time_embed_dim));
}

torch::Tensor timestep_mlp_impl::forward(const torch::Tensor& x) {
  return run_linear(linear_2_, silu_fresh(run_linear(linear_1_, x)));
}

// ---- resnet ----

namespace {

// At inference, fresh intermediates are updated in place: on CPU every avoided allocation of a
// large activation is also an avoided round of page faults. Autograd needs the originals kept.
bool inference() { return !torch::GradMode::is_enabled(); }

}  // namespace

torch::Tensor run_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return add_lora(*layer, x, torch::linear(x, layer->weight, layer->bias));
}

torch::Tensor convolve(nn::Conv2d conv, const torch::Tensor& x) {
  const auto& o = conv->options;
  if (!conv->bias.defined() || !fused_layout(x) ||
      torch::enumtype::get_enum_name(o.padding_mode()) != std::string("kZeros"))
    return conv(x);
  auto h = F::conv2d(x, conv->weight,
                     F::Conv2dFuncOptions()
                         .stride(o.stride())
                         .padding(o.padding())
                         .dilation(o.dilation())
                         .groups(o.groups()));
  return add_residual_and_bias(h, {}, conv->bias);
}

torch::Tensor silu_fresh(torch::Tensor fresh) {
  return inference() ? torch::silu_(fresh) : torch::silu(fresh);
}

torch::Tensor add_fresh(torch::Tensor fresh, const torch::Tensor& other) {
  return inference() ? fresh.add_(other) : fresh + other;
}

namespace {

nn::GroupNorm group_norm(int groups, int channels, double eps) {
  if (groups <= 0 || channels % groups != 0)
    throw model_error("GroupNorm: " + std::to_string(channels) + " channels cannot be split into " +
                      std::to_string(groups) + " groups");
  return nn::GroupNorm(nn::GroupNormOptions(groups, channels).eps(eps));
}

nn::Conv2d conv(int in, int out, int kernel, int stride = 1, int padding = -1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                        .stride(stride)
                        .padding(padding < 0 ? (kernel - 1) / 2 : padding));
}

nn::Linear linear(int in, int out, bool bias = true) {
  return nn::Linear(nn::LinearOptions(in, out).bias(bias));
}

// diffusers keeps a Dropout after the output projection (to_out.1, ff.net.1); it holds no
// weights but keeps the indices of the state dict keys.
nn::ModuleList linear_then_dropout(const nn::Linear& layer) {
  nn::ModuleList list;
  list->push_back(layer);
  list->push_back(nn::Dropout(0.0));
  return list;
}

}  // namespace

resnet_block_impl::resnet_block_impl(const resnet_options& o)
    : output_scale_factor_(o.output_scale_factor) {
  const int groups_out = o.groups_out > 0 ? o.groups_out : o.groups;
  norm1_ = register_module("norm1", group_norm(o.groups, o.in_channels, o.eps));
  conv1_ = register_module("conv1", conv(o.in_channels, o.out_channels, 3));
  if (o.temb_channels > 0)
    time_emb_proj_ = register_module("time_emb_proj", linear(o.temb_channels, o.out_channels));
  norm2_ = register_module("norm2", group_norm(groups_out, o.out_channels, o.eps));
  conv2_ = register_module("conv2", conv(o.out_channels, o.out_channels, 3));
  if (o.in_channels != o.out_channels)
    conv_shortcut_ = register_module("conv_shortcut", conv(o.in_channels, o.out_channels, 1));
}

namespace {

// A resnet convolution (stride 1, "same" padding) without its bias: the fused path adds the
// bias in the kernel that follows.
torch::Tensor convolve_without_bias(const nn::Conv2d& conv, const torch::Tensor& x) {
  return torch::conv2d(x, conv->weight, {}, 1, conv->weight.size(2) / 2);
}

// A 1x1 convolution on channels_last activations is a matrix product over the channels, whose
// bias cuBLAS adds in the same kernel.
torch::Tensor pointwise_convolve(const nn::Conv2d& conv, const torch::Tensor& x) {
  auto pixels = x.permute({0, 2, 3, 1});  // a view of the NHWC memory
  auto y = torch::linear(pixels, conv->weight.flatten(1), conv->bias);
  return add_lora(*conv, x, y.permute({0, 3, 1, 2}));
}

}  // namespace

void resnet_block_impl::fold_biases() {
  if (!time_emb_proj_ || folded_bias_.defined()) return;
  torch::NoGradGuard no_grad;
  folded_bias_ = time_emb_proj_->bias + conv1_->bias;
}

torch::Tensor resnet_block_impl::norm2_addend(const torch::Tensor& temb, int64_t batch) const {
  if (!time_emb_proj_ || !temb.defined())
    return conv1_->bias.unsqueeze(0).expand({batch, -1}).contiguous();
  const auto bias = folded_bias_.defined() ? folded_bias_ : time_emb_proj_->bias + conv1_->bias;
  return add_lora(*time_emb_proj_, temb, torch::linear(temb, time_emb_proj_->weight, bias));
}

torch::Tensor resnet_block_impl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  if (fused_layout(x)) {
    // Each convolution's bias rides in the kernel after it: conv1's (and the time embedding) in
    // norm2's statistics, conv2's in the residual addition.
    auto h = convolve_without_bias(conv1_, group_norm(x, norm1_, true));
    h = convolve_without_bias(conv2_, group_norm(h, norm2_, true, norm2_addend(temb, x.size(0))));
    h = add_residual_and_bias(h, conv_shortcut_ ? pointwise_convolve(conv_shortcut_, x) : x,
                              conv2_->bias);
    return output_scale_factor_ == 1.0 ? h : h / output_scale_factor_;
  }
  const auto time =
      time_emb_proj_ && temb.defined() ? run_linear(time_emb_proj_, temb) : torch::Tensor();
  auto h = conv1_(group_norm(x, norm1_, true));
  h = conv2_(group_norm(h, norm2_, true, time));
  auto out = add_fresh(h, conv_shortcut_ ? add_lora(*conv_shortcut_, x, conv_shortcut_(x)) : x);
  return output_scale_factor_ == 1.0 ? out : out / output_scale_factor_;
}

// ---- down/up sampling ----

downsample_impl::downsample_impl(int channels, int padding) : padding_(padding) {
  conv_ = register_module("conv", conv(channels, channels, 3, 2, padding));
}

torch::Tensor downsample_impl::forward(const torch::Tensor& x) {
  if (padding_ == 0) return convolve(conv_, F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
  return convolve(conv_, x);
}

upsample_impl::upsample_impl(int channels) {
  conv_ = register_module("conv", conv(channels, channels, 3));
}

torch::Tensor upsample_impl::forward(const torch::Tensor& x, const std::vector<int64_t>& size) {
  return convolve(conv_, upsample_nearest(x, size));
}

// ---- attention ----

namespace {

// (B, L, heads*d) -> (B, heads, L, d)
torch::Tensor split_heads(const torch::Tensor& x, int heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

// (B, heads, L, d) -> (B, L, heads*d)
torch::Tensor merge_heads(const torch::Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     bool upcast) {
  // The plain (pre-2.0) path forms Q.K^T in the input dtype, which can overflow half precision;
  // the fused kernels accumulate in float32 already.
#if TORCH_VERSION_MAJOR < 2
  if (upcast && q.scalar_type() != torch::kFloat32)
    return muse::model::scaled_dot_product_attention(q.to(torch::kFloat32), k.to(torch::kFloat32),
                                                     v.to(torch::kFloat32))
        .to(q.scalar_type());
#endif
  return muse::model::scaled_dot_product_attention(q, k, v);
}

}  // namespace

cross_attention_impl::cross_attention_impl(int query_dim, int context_dim, int heads, int head_dim,
                                           bool upcast)
    : heads_(heads), upcast_(upcast), self_attention_(context_dim <= 0) {
  const int inner = heads * head_dim;
  const int kv_dim = context_dim > 0 ? context_dim : query_dim;
  to_q_ = register_module("to_q", linear(query_dim, inner, false));
  to_k_ = register_module("to_k", linear(kv_dim, inner, false));
  to_v_ = register_module("to_v", linear(kv_dim, inner, false));
  to_out_ = linear(inner, query_dim);
  register_module("to_out", linear_then_dropout(to_out_));
}

void cross_attention_impl::fuse_projections() {
  if (packed_.defined()) return;
  torch::NoGradGuard no_grad;
  const auto inner = to_q_->weight.size(0);
  std::vector<torch::nn::Linear> parts{to_k_, to_v_};
  if (self_attention_) parts.insert(parts.begin(), to_q_);
  std::vector<torch::Tensor> weights;
  for (const auto& part : parts) weights.push_back(part->weight);
  packed_ = torch::cat(weights);
  // The separate weights become views of the packed one: no second copy, same state dict.
  for (size_t i = 0; i < parts.size(); ++i)
    parts[i]->weight.set_data(packed_.narrow(0, static_cast<int64_t>(i) * inner, inner));
}

torch::Tensor cross_attention_impl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const auto& source = context.defined() ? context : x;
  torch::Tensor q, k, v;
  if (packed_.defined() && self_attention_) {
    auto qkv = torch::linear(x, packed_).chunk(3, -1);
    q = add_lora(*to_q_, x, qkv[0]), k = add_lora(*to_k_, x, qkv[1]),
    v = add_lora(*to_v_, x, qkv[2]);
  } else if (packed_.defined()) {
    q = run_linear(to_q_, x);
    auto kv = torch::linear(source, packed_).chunk(2, -1);
    k = add_lora(*to_k_, source, kv[0]), v = add_lora(*to_v_, source, kv[1]);
  } else {
    q = run_linear(to_q_, x), k = run_linear(to_k_, source), v = run_linear(to_v_, source);
  }
  q = split_heads(q, heads_), k = split_heads(k, heads_), v = split_heads(v, heads_);
  return run_linear(to_out_, merge_heads(attend(q, k, v, upcast_)));
}

geglu_feed_forward_impl::geglu_feed_forward_impl(int dim) {
  const int inner = dim * 4;
  auto project_in = std::make_shared<nn::Module>();
  proj_ = project_in->register_module("proj", linear(dim, inner * 2));
  out_ = linear(inner, dim);
  nn::ModuleList net;
  net->push_back(project_in);
  net->push_back(nn::Dropout(0.0));
  net->push_back(out_);
  register_module("net", net);
}

torch::Tensor geglu_feed_forward_impl::forward(const torch::Tensor& x) {
  return run_linear(out_, geglu(run_linear(proj_, x)));
}

torch::Tensor geglu_feed_forward_impl::accumulate(const torch::Tensor& x,
                                                  torch::Tensor residual_with_bias) {
  const auto inner = geglu(run_linear(proj_, x));
  residual_with_bias.view({-1, residual_with_bias.size(-1)})
      .addmm_(inner.view({-1, inner.size(-1)}), out_->weight.t());
  return residual_with_bias;
}

transformer_block_impl::transformer_block_impl(int dim, int heads, int head_dim, int context_dim,
                                               bool upcast) {
  auto make_norm = [&] { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-5)); };
  norm1_ = register_module("norm1", make_norm());
  attn1_ = register_module("attn1", cross_attention(dim, 0, heads, head_dim, upcast));
  norm2_ = register_module("norm2", make_norm());
  attn2_ = register_module("attn2", cross_attention(dim, context_dim, heads, head_dim, upcast));
  norm3_ = register_module("norm3", make_norm());
  ff_ = register_module("ff", geglu_feed_forward(dim));
}

torch::Tensor transformer_block_impl::forward(torch::Tensor x, const torch::Tensor& context) {
  auto h = add_layer_norm(attn1_(layer_norm(x, norm1_)), x, norm2_);
  // The output layer's product accumulates into the residual in place: no room for a LoRA update.
  if (fused_rows(h.sum) && inference() && !active_lora_call()) {
    h = add_layer_norm(attn2_(h.normed, context), h.sum, norm3_, ff_->output_bias());
    return ff_->accumulate(h.normed, h.sum);
  }
  h = add_layer_norm(attn2_(h.normed, context), h.sum, norm3_);
  return add_fresh(ff_(h.normed), h.sum);
}

transformer_2d_impl::transformer_2d_impl(const transformer_2d_options& o) {
  if (o.heads <= 0 || o.channels % o.heads != 0)
    throw model_error("transformer: " + std::to_string(o.channels) +
                      " channels cannot be split into " + std::to_string(o.heads) +
                      " attention heads");
  const int head_dim = o.channels / o.heads;
  norm_ = register_module("norm", group_norm(o.groups, o.channels, 1e-6));
  if (o.linear_projection)
    linear_in_ = register_module("proj_in", linear(o.channels, o.channels));
  else
    conv_in_ = register_module("proj_in", conv(o.channels, o.channels, 1));
  nn::ModuleList blocks;
  for (int i = 0; i < o.layers; ++i) {
    blocks_.push_back(transformer_block(o.channels, o.heads, head_dim, o.context_dim, o.upcast));
    blocks->push_back(blocks_.back());
  }
  register_module("transformer_blocks", blocks);
  if (o.linear_projection)
    linear_out_ = register_module("proj_out", linear(o.channels, o.channels));
  else
    conv_out_ = register_module("proj_out", conv(o.channels, o.channels, 1));
}

torch::Tensor transformer_2d_impl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const auto batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const bool fused = fused_layout(x);
  auto h = group_norm(x, norm_, false);
  if (conv_in_) h = fused ? pointwise_convolve(conv_in_, h) : add_lora(*conv_in_, h, conv_in_(h));
  h = h.permute({0, 2, 3, 1}).reshape({batch, height * width, channels});
  if (linear_in_) h = run_linear(linear_in_, h);
  for (auto& block : blocks_) h = block(h, context);
  if (linear_out_) h = run_linear(linear_out_, h);
  // Back to x's layout: a copy for NCHW, none for channels_last.
  h = h.reshape({batch, height, width, channels})
          .permute({0, 3, 1, 2})
          .contiguous(x.suggest_memory_format());
  if (conv_out_)
    h = fused ? pointwise_convolve(conv_out_, h) : add_lora(*conv_out_, h, conv_out_(h));
  return add_fresh(h, x);
}

spatial_attention_impl::spatial_attention_impl(int channels, int groups, double eps) {
  group_norm_ = register_module("group_norm", group_norm(groups, channels, eps));
  to_q_ = register_module("to_q", linear(channels, channels));
  to_k_ = register_module("to_k", linear(channels, channels));
  to_v_ = register_module("to_v", linear(channels, channels));
  to_out_ = linear(channels, channels);
  register_module("to_out", linear_then_dropout(to_out_));
}

torch::Tensor spatial_attention_impl::forward(const torch::Tensor& x) {
  const auto batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  // (B, C, H, W) -> (B, H*W, C): a view for NCHW and channels_last alike.
  auto h = group_norm(x, group_norm_, false).flatten(2).transpose(1, 2);
  auto q = run_linear(to_q_, h).unsqueeze(1), k = run_linear(to_k_, h).unsqueeze(1),
       v = run_linear(to_v_, h).unsqueeze(1);
  auto out = run_linear(to_out_, attend(q, k, v, true).squeeze(1));
  return add_fresh(out.transpose(1, 2).reshape({batch, channels, height, width}), x);
}

}  // namespace muse::model
