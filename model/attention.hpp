#pragma once
// Scaled dot-product attention shared by the text encoder, UNet and VAE: the fused kernel where
// this libtorch has it (2.x), the plain softmax(QK^T/sqrt(d))V otherwise (1.13).

#include <optional>

#include <torch/torch.h>

namespace muse::model {

// q: (B, heads, Lq, d), k/v: (B, heads, Lk, d). `causal` masks future positions; `mask` (bool,
// broadcastable to (B, heads, Lq, Lk), true = attend) is optional.
torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, bool causal = false,
                                           const std::optional<torch::Tensor>& mask = std::nullopt);

}  // namespace muse::model
