#pragma once
// Scaled dot-product attention shared by the text encoder, UNet and VAE: the fused kernel where
// this libtorch has it (2.x), the plain softmax(QK^T/sqrt(d))V otherwise (1.13). The plain path
// takes the queries in chunks, so its score matrix stays within attention_score_budget_bytes
// however long the sequence (a VAE's mid-block attention at 1024x1024 has L = 16384).

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace muse::model {

// The most bytes one chunk of the plain path's score matrix (all batch rows and heads, float32
// where softmax upcasts) may take.
constexpr int64_t attention_score_budget_bytes = int64_t(64) << 20;

// q: (B, heads, Lq, d), k/v: (B, heads, Lk, d). `causal` masks future positions; `mask` (bool,
// broadcastable to (B, heads, Lq, Lk), true = attend) is optional.
torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, bool causal = false,
                                           const std::optional<torch::Tensor>& mask = std::nullopt);

// The plain path on any libtorch: queries in chunks of attention_query_chunk(...) rows, each
// row computed exactly as the unchunked formula computes it.
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, bool causal,
                                const std::optional<torch::Tensor>& mask,
                                int64_t score_budget_bytes = attention_score_budget_bytes);

// Query rows per chunk so that a (batch_heads, rows, key_length) score block of
// `score_element_bytes` each fits `score_budget_bytes`: at least 1, at most query_length.
int64_t attention_query_chunk(int64_t batch_heads, int64_t query_length, int64_t key_length,
                              int64_t score_element_bytes, int64_t score_budget_bytes);

}  // namespace muse::model
