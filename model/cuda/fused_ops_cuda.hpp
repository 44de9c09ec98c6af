#pragma once
// libtorch's side of the fused kernels: checks that a tensor suits a kernel, allocates the output
// and scratch from libtorch's caching allocator, and launches on the current CUDA stream (so the
// kernels are captured into CUDA graphs like any libtorch op). An empty optional means "does not
// apply": the caller runs libtorch's ops instead.

#include <torch/torch.h>

#include <optional>

namespace muse::model::cuda {

// x: (N, C, H, W) in channels_last memory on a CUDA device; addend: undefined or (N, C).
std::optional<torch::Tensor> group_norm_nhwc(const torch::Tensor& x, const torch::Tensor& addend,
                                             int64_t groups, const torch::Tensor& weight,
                                             const torch::Tensor& bias, double eps, bool silu);

// a += b + bias in place; a, b: (N, C, H, W) channels_last, bias: (C). False: does not apply.
bool add_residual_and_bias(torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias);

// Layer norm over the last dimension of x (contiguous, rows of C). With `residual` (x's shape,
// contiguous), of x + residual, and x is updated in place to that sum (+ `sum_bias`, (C), when
// defined). weight, bias: (C).
std::optional<torch::Tensor> layer_norm(torch::Tensor& x, const torch::Tensor& residual,
                                        const torch::Tensor& sum_bias, const torch::Tensor& weight,
                                        const torch::Tensor& bias, double eps);

// x: (N, C, H, W) channels_last -> (N, C, 2H, 2W) channels_last, nearest neighbour.
std::optional<torch::Tensor> upsample_nearest_2x(const torch::Tensor& x);

// projected: (..., 2n), contiguous.
std::optional<torch::Tensor> geglu(const torch::Tensor& projected);

// torch::cat({a, b}, 1) of two (N, C, H, W) channels_last tensors with the same N, H and W.
std::optional<torch::Tensor> concat_channels(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace muse::model::cuda
