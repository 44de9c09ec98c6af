// What the CUDA engine changes, checked on the CPU where it is device-independent: the libtorch
// side of the fused ops (the contract the CUDA kernels must meet), packed q/k/v projections, and
// a UNet run with channels_last weights and activations. tests/gpu checks the kernels themselves.
#include <catch2/catch.hpp>

#include "model/networks/fused_ops.hpp"
#include "model/networks/layers.hpp"
#include "model/networks/unet.hpp"

using namespace muse::model;

namespace {

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("fused ops: group norm of x + addend, SiLU, residual + bias, GEGLU", "[engine]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  torch::nn::GroupNorm norm(torch::nn::GroupNormOptions(4, 16).eps(1e-5));
  norm->weight.normal_(1.0, 0.3);
  norm->bias.normal_(0.0, 0.3);
  auto x = torch::randn({3, 16, 5, 7});
  auto addend = torch::randn({3, 16});

  auto expected = torch::silu(norm(x + addend.view({3, 16, 1, 1})));
  CHECK(max_difference(group_norm(x.clone(), norm, true, addend), expected) < 1e-6);
  CHECK(max_difference(group_norm(x, norm, false), norm(x)) == 0);

  auto fresh = torch::randn({3, 16, 5, 7}), residual = torch::randn({3, 16, 5, 7});
  auto bias = torch::randn({16});
  auto sum = fresh + residual + bias.view({1, 16, 1, 1});
  CHECK(max_difference(add_residual_and_bias(fresh.clone(), residual, bias), sum) < 1e-6);
  CHECK(max_difference(add_residual_and_bias(fresh.clone(), {}, {}), fresh) == 0);

  auto projected = torch::randn({2, 9, 32});
  auto halves = projected.chunk(2, -1);
  CHECK(max_difference(geglu(projected), halves[0] * torch::gelu(halves[1])) < 1e-6);
  // On the CPU the fused layout never applies: layers run libtorch's ops.
  CHECK_FALSE(fused_layout(x.contiguous(torch::MemoryFormat::ChannelsLast)));
}

TEST_CASE("packed q/k/v projections give the attention of the separate ones", "[engine]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(12);
  for (int context_dim : {0, 12}) {
    INFO("context_dim " << context_dim);
    cross_attention attention(16, context_dim, 4, 4, false);
    auto x = torch::randn({2, 10, 16});
    auto context = context_dim ? torch::randn({2, 7, 12}) : torch::Tensor();
    const auto separate = attention(x, context);
    const auto names_before = attention->named_parameters().keys();
    attention->fuse_projections();
    CHECK(max_difference(attention(x, context), separate) < 1e-5);
    // The state dict is unchanged: the separate weights are views of the packed one.
    CHECK(attention->named_parameters().keys() == names_before);
  }
}

TEST_CASE("a UNet with channels_last weights gives the NCHW result", "[engine]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(13);
  const nlohmann::json config = {{"sample_size", 8},
                                 {"block_out_channels", {16, 32}},
                                 {"layers_per_block", 1},
                                 {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
                                 {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
                                 {"cross_attention_dim", 12},
                                 {"attention_head_dim", 2},
                                 {"norm_num_groups", 8}};
  unet_model unet(unet_config::from_json(config));
  unet->eval();
  auto sample = torch::randn({2, 4, 8, 8});
  auto timesteps = torch::tensor({10.0f, 700.0f});
  auto context = torch::randn({2, 5, 12});
  const auto nchw = unet->forward(sample, timesteps, context);
  use_channels_last(*unet);
  fuse_weights(*unet);
  CHECK(unet->activation_format() == torch::MemoryFormat::ChannelsLast);
  const auto nhwc = unet->forward(sample, timesteps, context);
  CHECK(nhwc.is_contiguous());
  CHECK(max_difference(nhwc, nchw) < 1e-4);
}
