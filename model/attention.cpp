#include "model/attention.hpp"

#include <cmath>

#include <torch/version.h>

namespace muse::model {

namespace {

torch::Tensor combined_mask(const torch::Tensor& q, const torch::Tensor& k, bool causal,
                            const std::optional<torch::Tensor>& mask) {
  torch::Tensor allowed;
  if (causal) {
    // Top-left aligned, as the fused kernel's is_causal is.
    allowed = torch::ones({q.size(-2), k.size(-2)}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril();
  }
  if (mask) allowed = allowed.defined() ? allowed.logical_and(*mask) : *mask;
  return allowed;
}

}  // namespace

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           bool causal, const std::optional<torch::Tensor>& mask) {
#if TORCH_VERSION_MAJOR >= 2
  if (!mask) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
  return at::scaled_dot_product_attention(q, k, v, combined_mask(q, k, causal, mask), 0.0, false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  const auto allowed = combined_mask(q, k, causal, mask);
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  // Reduced-precision scores are softmaxed in float32: the exponentials overflow half otherwise.
  auto weights = scores.is_floating_point() && scores.scalar_type() != torch::kFloat32 &&
                         scores.scalar_type() != torch::kFloat64
                     ? torch::softmax(scores.to(torch::kFloat32), -1).to(scores.scalar_type())
                     : torch::softmax(scores, -1);
  return torch::matmul(weights, v);
#endif
}

}  // namespace muse::model
