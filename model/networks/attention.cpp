#include "model/networks/attention.hpp"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace muse::model {

namespace {

bool softmax_upcasts(torch::ScalarType type) {
  return type != torch::kFloat32 && type != torch::kFloat64 && c10::isFloatingType(type);
}

// Rows [first, first + rows) of the (Lq, Lk) causal mask, top-left aligned as the fused
// kernel's is_causal is.
torch::Tensor causal_rows(int64_t first, int64_t rows, int64_t key_length, torch::Device device) {
  return torch::ones({rows, key_length}, torch::TensorOptions().dtype(torch::kBool).device(device))
      .tril(first);
}

// The rows [first, first + rows) of a mask broadcastable to (..., Lq, Lk).
torch::Tensor mask_rows(const torch::Tensor& mask, int64_t first, int64_t rows) {
  if (mask.dim() < 2 || mask.size(-2) == 1) return mask;
  return mask.narrow(-2, first, rows);
}

torch::Tensor attend_rows(const torch::Tensor& q, const torch::Tensor& k_transposed,
                          const torch::Tensor& v, double scale, const torch::Tensor& allowed) {
  auto scores = torch::matmul(q, k_transposed) * scale;
  if (allowed.defined())
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  // Reduced-precision scores are softmaxed in float32: the exponentials overflow half otherwise.
  auto weights = softmax_upcasts(scores.scalar_type())
                     ? torch::softmax(scores.to(torch::kFloat32), -1).to(scores.scalar_type())
                     : torch::softmax(scores, -1);
  return torch::matmul(weights, v);
}

#if TORCH_VERSION_MAJOR >= 2
torch::Tensor combined_mask(const torch::Tensor& q, const torch::Tensor& k, bool causal,
                            const std::optional<torch::Tensor>& mask) {
  if (!causal) return *mask;
  return causal_rows(0, q.size(-2), k.size(-2), q.device()).logical_and(*mask);
}
#endif

}  // namespace

int64_t attention_query_chunk(int64_t batch_heads, int64_t query_length, int64_t key_length,
                              int64_t score_element_bytes, int64_t score_budget_bytes) {
  const int64_t row_bytes = std::max<int64_t>(1, batch_heads * key_length * score_element_bytes);
  return std::clamp<int64_t>(score_budget_bytes / row_bytes, 1, std::max<int64_t>(query_length, 1));
}

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, bool causal,
                                const std::optional<torch::Tensor>& mask,
                                int64_t score_budget_bytes) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const int64_t query_length = q.size(-2), key_length = k.size(-2);
  // Leading (batch, head) dims broadcast between q and k, as matmul does.
  int64_t batch_heads = 1;
  for (int64_t i = 3; i <= std::max(q.dim(), k.dim()); ++i) {
    const int64_t qs = i <= q.dim() ? q.size(-i) : 1, ks = i <= k.dim() ? k.size(-i) : 1;
    batch_heads *= std::max(qs, ks);
  }
  const int64_t element_bytes =
      std::max<int64_t>(softmax_upcasts(q.scalar_type()) ? 4 : 0, q.element_size());
  const int64_t rows = attention_query_chunk(batch_heads, query_length, key_length, element_bytes,
                                             score_budget_bytes);
  const auto k_transposed = k.transpose(-2, -1);
  if (query_length == 0) return attend_rows(q, k_transposed, v, scale, {});

  torch::Tensor out;
  for (int64_t first = 0; first < query_length; first += rows) {
    const int64_t n = std::min(rows, query_length - first);
    torch::Tensor allowed;
    if (causal) allowed = causal_rows(first, n, key_length, q.device());
    if (mask)
      allowed = allowed.defined() ? allowed.logical_and(mask_rows(*mask, first, n))
                                  : mask_rows(*mask, first, n);
    auto part = attend_rows(q.narrow(-2, first, n), k_transposed, v, scale, allowed);
    if (n == query_length) return part;
    if (!out.defined()) {
      auto sizes = part.sizes().vec();
      sizes[sizes.size() - 2] = query_length;
      out = torch::empty(sizes, part.options());
    }
    out.narrow(-2, first, n).copy_(part);
  }
  return out;
}

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, bool causal,
                                           const std::optional<torch::Tensor>& mask) {
#if TORCH_VERSION_MAJOR >= 2
  if (!mask) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
  return at::scaled_dot_product_attention(q, k, v, combined_mask(q, k, causal, mask), 0.0, false);
#else
  return chunked_attention(q, k, v, causal, mask);
#endif
}

}  // namespace muse::model
