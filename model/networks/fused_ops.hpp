#pragma once
// The memory-bound steps the UNet and VAE repeat dozens of times a step. On CUDA tensors, in a
// build with CUDA, fused kernels (model/cuda/) run them in one pass over memory; everywhere else
// (the CPU, NCHW tensors, a build without CUDA, or with fused kernels switched off) libtorch's own
// ops run them, exactly as before. Both give the same result up to one rounding of the dtype.

#include <torch/torch.h>

namespace muse::model {

// Fused kernels are used unless switched off for the calling thread, for as long as a scope
// lives (the pipeline opens one per call, as its options say; tests to check against libtorch).
class fused_kernels_scope {
 public:
  explicit fused_kernels_scope(bool enabled);
  ~fused_kernels_scope();
  fused_kernels_scope(const fused_kernels_scope&) = delete;
  fused_kernels_scope& operator=(const fused_kernels_scope&) = delete;

 private:
  bool previous_;
};

// norm(x + addend), then SiLU when `silu`; `addend` (optional) holds one value per sample and
// channel, (N, C), broadcast over the pixels (a resnet's time embedding). The fused kernel takes
// channels_last (NHWC) inputs. Where x is a fresh intermediate it may be updated in place.
torch::Tensor group_norm(const torch::Tensor& x, torch::nn::GroupNorm norm, bool silu,
                         const torch::Tensor& addend = {});

// True where the fused kernels take `x` (a CUDA tensor in channels_last, fused kernels on):
// layers then run the fused form of their block.
bool fused_layout(const torch::Tensor& x);
// True for a contiguous CUDA tensor with fused kernels on (rows of a transformer's tokens).
bool fused_rows(const torch::Tensor& x);

// fresh + residual + bias (per channel, may be undefined), updating `fresh` in place.
torch::Tensor add_residual_and_bias(torch::Tensor fresh, const torch::Tensor& residual,
                                    const torch::Tensor& bias);

// A transformer block's pre-norm after a residual: `sum` = fresh + residual (fresh updated in
// place), `normed` = norm(sum). The fused kernel does both in one pass. With `sum_bias` (C),
// `sum` also holds it (not `normed`): the bias of a layer whose product is later added onto
// `sum` by its matrix product.
struct normed_sum {
  torch::Tensor sum;
  torch::Tensor normed;
};
normed_sum add_layer_norm(torch::Tensor fresh, const torch::Tensor& residual,
                          torch::nn::LayerNorm norm, const torch::Tensor& sum_bias = {});
torch::Tensor layer_norm(const torch::Tensor& x, torch::nn::LayerNorm norm);

// Nearest-neighbour upsampling of (N, C, H, W) to `size` ({height, width}; empty: twice H and
// W). The fused kernel takes channels_last inputs upsampled by exactly 2.
torch::Tensor upsample_nearest(const torch::Tensor& x, const std::vector<int64_t>& size);

// diffusers' GEGLU: `projected` (..., 2n) -> value * gelu(gate), value and gate its two halves.
torch::Tensor geglu(const torch::Tensor& projected);

// torch::cat({a, b}, 1) of (N, C, H, W) tensors (a UNet's skip connection); the fused kernel
// takes channels_last inputs.
torch::Tensor concat_channels(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace muse::model
