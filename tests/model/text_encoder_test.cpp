#include "model/text/text_encoder.hpp"

#include <catch2/catch.hpp>

#include "model/generator.hpp"
#include "model/networks/attention.hpp"

using namespace muse::model;

namespace {

const nlohmann::json tiny_config = {{"architectures", {"CLIPTextModel"}},
                                    {"vocab_size", 50},
                                    {"hidden_size", 16},
                                    {"intermediate_size", 24},
                                    {"num_hidden_layers", 2},
                                    {"num_attention_heads", 4},
                                    {"max_position_embeddings", 10},
                                    {"hidden_act", "quick_gelu"},
                                    {"layer_norm_eps", 1e-5}};

}  // namespace

TEST_CASE("text encoder parameters carry the transformers names") {
  text_encoder model(text_encoder_config::from_json(tiny_config));
  auto params = model->named_parameters();
  CHECK(params.contains("text_model.embeddings.token_embedding.weight"));
  CHECK(params.contains("text_model.embeddings.position_embedding.weight"));
  CHECK(params.contains("text_model.encoder.layers.1.self_attn.q_proj.weight"));
  CHECK(params.contains("text_model.encoder.layers.0.mlp.fc2.bias"));
  CHECK(params.contains("text_model.encoder.layers.0.layer_norm2.weight"));
  CHECK(params.contains("text_model.final_layer_norm.bias"));
  CHECK(params.size() == 2 + 2 * 16 + 2);
}

TEST_CASE("text encoder attention is causal and loads from a weight map") {
  torch::manual_seed(0);
  text_encoder source(text_encoder_config::from_json(tiny_config));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : source->named_parameters()) tensors[p.key()] = p.value().detach().clone();
  tensors["text_model.embeddings.position_ids"] = torch::arange(10).unsqueeze(0);
  auto model = load_text_encoder(tiny_config, weight_map::from_tensors(tensors), torch::kCPU,
                                 torch::kFloat32);
  torch::NoGradGuard no_grad;
  auto a = model->forward(torch::tensor({{1, 5, 7, 9, 2}}, torch::kLong));
  auto b = model->forward(torch::tensor({{1, 5, 7, 3, 4}}, torch::kLong));
  CHECK(a.sizes() == torch::IntArrayRef({1, 5, 16}));
  CHECK(torch::allclose(a.narrow(1, 0, 3), b.narrow(1, 0, 3)));
  CHECK(!torch::allclose(a.narrow(1, 3, 1), b.narrow(1, 3, 1)));
  CHECK(torch::allclose(a, source->forward(torch::tensor({{1, 5, 7, 9, 2}}, torch::kLong)), 1e-5,
                        1e-6));
}

TEST_CASE("text encoder config errors name the value") {
  auto bad = tiny_config;
  bad["hidden_act"] = "relu";
  CHECK_THROWS_WITH(text_encoder_config::from_json(bad), Catch::Contains("relu"));
  bad = tiny_config;
  bad["num_attention_heads"] = 5;
  CHECK_THROWS_AS(text_encoder_config::from_json(bad), model_error);
}

TEST_CASE("attention matches the softmax formula, with causal and explicit masks") {
  torch::manual_seed(1);
  auto q = torch::randn({2, 3, 5, 8}), k = torch::randn({2, 3, 6, 8}),
       v = torch::randn({2, 3, 6, 8});
  auto reference = [&](const torch::Tensor& mask) {
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0);
    if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -INFINITY);
    return torch::matmul(torch::softmax(scores, -1), v);
  };
  CHECK(torch::allclose(muse::model::scaled_dot_product_attention(q, k, v), reference({}), 1e-5,
                        1e-5));
  auto causal = torch::ones({5, 6}, torch::kBool).tril();
  CHECK(torch::allclose(muse::model::scaled_dot_product_attention(q, k, v, true), reference(causal),
                        1e-5, 1e-5));
  auto mask = torch::rand({2, 1, 1, 6}) > 0.3;
  mask.index_put_({torch::indexing::Slice(), 0, 0, 0}, true);
  CHECK(torch::allclose(muse::model::scaled_dot_product_attention(q, k, v, false, mask),
                        reference(mask), 1e-5, 1e-5));
}
