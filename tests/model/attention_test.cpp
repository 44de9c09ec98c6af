// The plain attention path in query chunks: the same result as one block, on any libtorch.
#include "model/networks/attention.hpp"

#include <catch2/catch.hpp>

using muse::model::attention_query_chunk;
using muse::model::chunked_attention;

namespace {

constexpr int64_t unbounded = int64_t(1) << 60;

// A budget that fits `rows` query rows of float32 scores for (batch_heads, Lk).
int64_t budget_for_rows(int64_t rows, int64_t batch_heads, int64_t key_length) {
  return rows * batch_heads * key_length * 4;
}

}  // namespace

TEST_CASE("attention chunk size keeps the score block within the budget") {
  // The VAE mid-block at 1024x1024: one head, L = 16384, float32: 64 KiB per query row.
  CHECK(attention_query_chunk(1, 16384, 16384, 4, int64_t(64) << 20) == 1024);
  CHECK(attention_query_chunk(2, 16384, 16384, 4, int64_t(64) << 20) == 512);
  // Never more rows than the queries, never fewer than one.
  CHECK(attention_query_chunk(1, 77, 77, 4, int64_t(64) << 20) == 77);
  CHECK(attention_query_chunk(64, 16384, 16384, 4, 1024) == 1);
  // A small budget forces chunks; the block of each fits it.
  for (int64_t budget : {int64_t(4096), int64_t(10000), int64_t(1) << 20}) {
    const int64_t rows = attention_query_chunk(6, 1000, 300, 2, budget);
    CHECK(rows >= 1);
    CHECK((rows == 1 || rows * 6 * 300 * 2 <= budget));
    CHECK(rows * 6 * 300 * 2 > budget - 6 * 300 * 2);
  }
}

TEST_CASE("chunked attention equals unchunked attention") {
  torch::manual_seed(3);
  const int64_t batch = 2, heads = 3, query_length = 37, key_length = 29, dim = 8;
  auto q = torch::randn({batch, heads, query_length, dim});
  auto k = torch::randn({batch, heads, key_length, dim});
  auto v = torch::randn({batch, heads, key_length, dim});
  auto row_mask = torch::rand({batch, 1, query_length, key_length}) > 0.3;
  row_mask.index_put_({torch::indexing::Slice(), 0, torch::indexing::Slice(), 0}, true);
  auto key_mask = torch::rand({batch, 1, 1, key_length}) > 0.3;
  key_mask.index_put_({torch::indexing::Slice(), 0, 0, 0}, true);
  // 5 rows per chunk: 8 chunks, the last one short.
  const int64_t budget = budget_for_rows(5, batch * heads, key_length);
  REQUIRE(attention_query_chunk(batch * heads, query_length, key_length, 4, budget) == 5);

  for (bool causal : {false, true}) {
    for (const auto& mask : {std::optional<torch::Tensor>{}, std::optional<torch::Tensor>{row_mask},
                             std::optional<torch::Tensor>{key_mask}}) {
      CAPTURE(causal, mask.has_value());
      auto whole = chunked_attention(q, k, v, causal, mask, unbounded);
      auto chunked = chunked_attention(q, k, v, causal, mask, budget);
      REQUIRE(chunked.sizes() == whole.sizes());
      CHECK(torch::allclose(chunked, whole, 1e-6, 1e-6));
      // And both are the softmax formula.
      auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dim));
      torch::Tensor allowed;
      if (causal) allowed = torch::ones({query_length, key_length}, torch::kBool).tril();
      if (mask) allowed = allowed.defined() ? allowed.logical_and(*mask) : *mask;
      if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), -INFINITY);
      CHECK(torch::allclose(chunked, torch::matmul(torch::softmax(scores, -1), v), 1e-5, 1e-5));
    }
  }
}

TEST_CASE("chunked attention in half precision softmaxes in float32 as one block does") {
  torch::manual_seed(4);
  auto q = torch::randn({1, 2, 40, 16}).to(torch::kBFloat16);
  auto k = torch::randn({1, 2, 24, 16}).to(torch::kBFloat16);
  auto v = torch::randn({1, 2, 24, 16}).to(torch::kBFloat16);
  const int64_t budget = budget_for_rows(7, 2, 24);
  REQUIRE(attention_query_chunk(2, 40, 24, 4, budget) == 7);
  auto whole = chunked_attention(q, k, v, true, std::nullopt, unbounded);
  auto chunked = chunked_attention(q, k, v, true, std::nullopt, budget);
  CHECK(chunked.scalar_type() == torch::kBFloat16);
  // Equal up to bfloat16's rounding, two units in the last place: on CPUs with native bfloat16
  // products (AVX512-BF16) the matrix kernels round a 7-row chunk otherwise than the 40-row block.
  const auto a = chunked.to(torch::kFloat32), b = whole.to(torch::kFloat32);
  INFO("largest difference " << (a - b).abs().max().item<float>());
  CHECK(torch::allclose(a, b, 1.0 / 64, 1.0 / 128));
}

TEST_CASE("chunked attention broadcasts k and v over the batch as matmul does") {
  torch::manual_seed(5);
  auto q = torch::randn({3, 2, 20, 4});
  auto k = torch::randn({1, 2, 9, 4}), v = torch::randn({1, 2, 9, 4});
  auto whole = chunked_attention(q, k, v, false, std::nullopt, unbounded);
  auto chunked = chunked_attention(q, k, v, false, std::nullopt, budget_for_rows(3, 6, 9));
  REQUIRE(chunked.sizes() == torch::IntArrayRef({3, 2, 20, 4}));
  CHECK(torch::allclose(chunked, whole, 1e-6, 1e-6));
}
