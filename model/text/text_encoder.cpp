#include "model/text/text_encoder.hpp"

#include "model/formats/model_dir.hpp"
#include "model/generator.hpp"
#include "model/networks/attention.hpp"
#include "model/networks/lora.hpp"

namespace muse::model {

namespace {

// A linear layer plus the active LoRA call's update for it (lora.hpp).
torch::Tensor adapted(torch::nn::Linear& layer, const torch::Tensor& x) {
  return add_lora(*layer, x, layer(x));
}

}  // namespace

text_encoder_config text_encoder_config::from_json(const nlohmann::json& json) {
  text_encoder_config c;
  c.vocab_size = json_int(json, "vocab_size", c.vocab_size);
  c.hidden_size = json_int(json, "hidden_size", c.hidden_size);
  c.intermediate_size = json_int(json, "intermediate_size", c.intermediate_size);
  c.num_hidden_layers = json_int(json, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = json_int(json, "num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings = json_int(json, "max_position_embeddings", c.max_position_embeddings);
  c.hidden_act = json_string(json, "hidden_act", c.hidden_act);
  c.layer_norm_eps = json_double(json, "layer_norm_eps", c.layer_norm_eps);
  c.eos_token_id = json_int(json, "eos_token_id", c.eos_token_id);
  c.projection_dim = json_int(json, "projection_dim", c.projection_dim);
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu")
    throw model_error("text encoder: unsupported hidden_act '" + c.hidden_act +
                      "' (quick_gelu or gelu)");
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.max_position_embeddings <= 0)
    throw model_error("text encoder: sizes in config.json must be positive");
  if (c.hidden_size % c.num_attention_heads != 0)
    throw model_error("text encoder: hidden_size is not a multiple of num_attention_heads");
  if (json.contains("architectures") && json.at("architectures").is_array())
    for (const auto& arch : json.at("architectures"))
      if (arch == "CLIPTextModelWithProjection")
        c.with_projection = true;
      else if (arch != "CLIPTextModel")
        throw model_error("text encoder: unsupported architecture " + arch.dump());
  if (c.with_projection && c.projection_dim <= 0)
    throw model_error("text encoder: projection_dim in config.json must be positive");
  return c;
}

clip_attention_impl::clip_attention_impl(const text_encoder_config& c)
    : heads_(c.num_attention_heads) {
  q_proj_ = register_module("q_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
  k_proj_ = register_module("k_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
  v_proj_ = register_module("v_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
  out_proj_ = register_module("out_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
}

torch::Tensor clip_attention_impl::forward(const torch::Tensor& hidden) {
  const auto b = hidden.size(0), l = hidden.size(1), d = hidden.size(2);
  auto split = [&](const torch::Tensor& x) {
    return x.view({b, l, heads_, d / heads_}).transpose(1, 2);
  };
  auto out = muse::model::scaled_dot_product_attention(split(adapted(q_proj_, hidden)),
                                                       split(adapted(k_proj_, hidden)),
                                                       split(adapted(v_proj_, hidden)),
                                                       /*causal=*/true);
  return adapted(out_proj_, out.transpose(1, 2).reshape({b, l, d}));
}

clip_mlp_impl::clip_mlp_impl(const text_encoder_config& c)
    : quick_gelu_(c.hidden_act == "quick_gelu") {
  fc1_ = register_module("fc1", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  fc2_ = register_module("fc2", torch::nn::Linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor clip_mlp_impl::forward(const torch::Tensor& hidden) {
  auto x = adapted(fc1_, hidden);
  x = quick_gelu_ ? x * torch::sigmoid(1.702 * x) : torch::gelu(x);
  return adapted(fc2_, x);
}

clip_encoder_layer_impl::clip_encoder_layer_impl(const text_encoder_config& c) {
  auto norm = [&] {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps));
  };
  self_attn_ = register_module("self_attn", clip_attention(c));
  layer_norm1_ = register_module("layer_norm1", norm());
  mlp_ = register_module("mlp", clip_mlp(c));
  layer_norm2_ = register_module("layer_norm2", norm());
}

torch::Tensor clip_encoder_layer_impl::forward(const torch::Tensor& hidden) {
  auto x = hidden + self_attn_(layer_norm1_(hidden));
  return x + mlp_(layer_norm2_(x));
}

clip_text_transformer_impl::clip_text_transformer_impl(const text_encoder_config& c)
    : eos_token_id_(c.eos_token_id) {
  auto embeddings = register_module("embeddings", std::make_shared<torch::nn::Module>());
  token_embedding_ = embeddings->register_module("token_embedding",
                                                 torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embedding_ = embeddings->register_module(
      "position_embedding", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  layers_ = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers_->push_back(clip_encoder_layer(c));
  final_layer_norm_ = register_module(
      "final_layer_norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

torch::Tensor clip_text_transformer_impl::forward(const torch::Tensor& input_ids) {
  const auto length = input_ids.size(1);
  if (length > position_embedding_->weight.size(0))
    throw model_error("text encoder: " + std::to_string(length) +
                      " tokens exceed max_position_embeddings");
  auto positions =
      torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(input_ids.device()));
  auto hidden = token_embedding_(input_ids) + position_embedding_(positions).unsqueeze(0);
  for (auto& layer : *layers_) hidden = layer->as<clip_encoder_layer>()->forward(hidden);
  return final_layer_norm_(hidden);
}

text_encoder_output clip_text_transformer_impl::run(const torch::Tensor& input_ids,
                                                    unsigned wanted) {
  const auto length = input_ids.size(1);
  if (length > position_embedding_->weight.size(0))
    throw model_error("text encoder: " + std::to_string(length) +
                      " tokens exceed max_position_embeddings");
  const bool to_the_end = (wanted & (last_hidden_output | pooled_output)) != 0;
  auto positions =
      torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(input_ids.device()));
  auto hidden = token_embedding_(input_ids) + position_embedding_(positions).unsqueeze(0);
  text_encoder_output out;
  const size_t count = layers_->size();
  for (size_t i = 0; i < count; ++i) {
    // hidden_states[-2] of transformers: the input of the last layer (the embeddings' output
    // for a one-layer model).
    if (i + 1 == count) {
      if (wanted & penultimate_output) out.penultimate = hidden;
      if (!to_the_end) return out;
    }
    hidden = (*layers_)[i]->as<clip_encoder_layer>()->forward(hidden);
  }
  auto last = final_layer_norm_(hidden);
  if (wanted & pooled_output) {
    // transformers: the first eos_token_id of each row, or for the legacy eos_token_id 2 the
    // largest id (the tokenizer's <|endoftext|>); argmax returns the first of equal maxima.
    auto index = eos_token_id_ == 2 ? input_ids.argmax(-1)
                                    : input_ids.eq(eos_token_id_).to(torch::kInt).argmax(-1);
    auto rows = torch::arange(input_ids.size(0), index.options());
    out.pooled = last.index({rows, index});
  }
  if (wanted & last_hidden_output) out.last_hidden_state = last;
  return out;
}

text_encoder_impl::text_encoder_impl(const text_encoder_config& config) : config_(config) {
  text_model_ = register_module("text_model", clip_text_transformer(config));
  if (config.with_projection)
    text_projection_ = register_module(
        "text_projection",
        torch::nn::Linear(
            torch::nn::LinearOptions(config.hidden_size, config.projection_dim).bias(false)));
}

torch::Tensor text_encoder_impl::forward(const torch::Tensor& input_ids) {
  if (input_ids.dim() != 2) throw model_error("text encoder: input ids must be (batch, length)");
  return text_model_(input_ids);
}

text_encoder_output text_encoder_impl::encode(const torch::Tensor& input_ids, unsigned wanted) {
  if (input_ids.dim() != 2) throw model_error("text encoder: input ids must be (batch, length)");
  auto out = text_model_->run(input_ids, wanted);
  if ((wanted & pooled_output) && !text_projection_.is_empty())
    out.text_embeds = adapted(text_projection_, out.pooled);
  return out;
}

text_encoder load_text_encoder(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  return load_text_encoder(read_json_file(dir + "/config.json"),
                           weight_map::open_many(component_weight_files(dir)), device, dtype);
}

text_encoder load_text_encoder(const nlohmann::json& json, const weight_map& weights,
                               torch::Device device, torch::Dtype dtype) {
  text_encoder model(text_encoder_config::from_json(json));
  model->to(device, dtype);
  // Older transformers saved the position_ids buffer. The projection of a
  // CLIPTextModelWithProjection checkpoint is loaded when its config names that architecture,
  // and left out otherwise (it is not part of last_hidden_state). transformers 5 saves
  // CLIPTextModel without the "text_model." prefix of earlier versions (and of
  // CLIPTextModelWithProjection, which still wraps one).
  bool prefixed = false;
  for (const auto& key : weights.names()) prefixed = prefixed || key.rfind("text_model.", 0) == 0;
  const bool projection = model->config().with_projection;
  auto used = weights.renamed([prefixed, projection](const std::string& key) -> std::string {
    if (key.find("position_ids") != std::string::npos) return "";
    if (key.rfind("text_projection", 0) == 0) return projection ? key : "";
    return prefixed ? key : "text_model." + key;
  });
  try {
    load_module(*model, used);
  } catch (const model_error& e) {
    throw model_error(std::string("text encoder: ") + e.what());
  }
  model->eval();
  return model;
}

}  // namespace muse::model
