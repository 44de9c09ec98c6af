#include "model/networks/fused_ops.hpp"

#if MUSE_WITH_CUDA
#include "model/cuda/fused_ops_cuda.hpp"
#endif

namespace muse::model {

namespace {

thread_local bool fused_enabled = true;

#if MUSE_WITH_CUDA
bool use_fused(const torch::Tensor& x) { return fused_enabled && x.is_cuda(); }
#endif

}  // namespace

fused_kernels_scope::fused_kernels_scope(bool enabled) : previous_(fused_enabled) {
  fused_enabled = enabled;
}
fused_kernels_scope::~fused_kernels_scope() { fused_enabled = previous_; }

torch::Tensor group_norm(const torch::Tensor& x, torch::nn::GroupNorm norm, bool silu,
                         const torch::Tensor& addend) {
#if MUSE_WITH_CUDA
  if (use_fused(x)) {
    const auto& o = norm->options;
    if (auto fused = cuda::group_norm_nhwc(x, addend, o.num_groups(), norm->weight, norm->bias,
                                           o.eps(), silu))
      return *fused;
  }
#endif
  const bool inference = !torch::GradMode::is_enabled();
  auto input = x;
  if (addend.defined()) {
    const auto broadcast = addend.unsqueeze(-1).unsqueeze(-1);
    input = inference ? input.add_(broadcast) : input + broadcast;
  }
  auto y = norm(input);
  if (!silu) return y;
  return inference ? torch::silu_(y) : torch::silu(y);
}

bool fused_rows(const torch::Tensor& x) {
#if MUSE_WITH_CUDA
  return use_fused(x) && x.is_contiguous();
#else
  (void)x;
  return false;
#endif
}

bool fused_layout(const torch::Tensor& x) {
#if MUSE_WITH_CUDA
  return use_fused(x) && x.dim() == 4 && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
#else
  (void)x;
  return false;
#endif
}

torch::Tensor add_residual_and_bias(torch::Tensor fresh, const torch::Tensor& residual,
                                    const torch::Tensor& bias) {
#if MUSE_WITH_CUDA
  if (use_fused(fresh) && cuda::add_residual_and_bias(fresh, residual, bias)) return fresh;
#endif
  const bool inference = !torch::GradMode::is_enabled();
  if (residual.defined()) fresh = inference ? fresh.add_(residual) : fresh + residual;
  if (bias.defined()) {
    const auto broadcast = bias.view({1, -1, 1, 1});
    fresh = inference ? fresh.add_(broadcast) : fresh + broadcast;
  }
  return fresh;
}

normed_sum add_layer_norm(torch::Tensor fresh, const torch::Tensor& residual,
                          torch::nn::LayerNorm norm, const torch::Tensor& sum_bias) {
#if MUSE_WITH_CUDA
  if (use_fused(fresh)) {
    if (auto normed = cuda::layer_norm(fresh, residual, sum_bias, norm->weight, norm->bias,
                                       norm->options.eps()))
      return {fresh, *normed};
  }
#endif
  const bool inference = !torch::GradMode::is_enabled();
  auto sum = inference ? fresh.add_(residual) : fresh + residual;
  auto normed = norm(sum);
  if (sum_bias.defined()) sum = inference ? sum.add_(sum_bias) : sum + sum_bias;
  return {sum, normed};
}

torch::Tensor layer_norm(const torch::Tensor& x, torch::nn::LayerNorm norm) {
#if MUSE_WITH_CUDA
  if (use_fused(x)) {
    auto input = x;  // not written: no residual
    if (auto normed =
            cuda::layer_norm(input, {}, {}, norm->weight, norm->bias, norm->options.eps()))
      return *normed;
  }
#endif
  return norm(x);
}

torch::Tensor upsample_nearest(const torch::Tensor& x, const std::vector<int64_t>& size) {
#if MUSE_WITH_CUDA
  const bool by_two =
      size.empty() || (size.size() == 2 && size[0] == 2 * x.size(-2) && size[1] == 2 * x.size(-1));
  if (by_two && fused_layout(x))
    if (auto fused = cuda::upsample_nearest_2x(x)) return *fused;
#endif
  namespace F = torch::nn::functional;
  auto options = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size.empty())
    options.scale_factor(std::vector<double>{2.0, 2.0});
  else
    options.size(size);
    // Nearest upsampling of bfloat16 is missing from libtorch before 2.1.
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 1)
  if (x.scalar_type() == torch::kBFloat16)
    return F::interpolate(x.to(torch::kFloat32), options).to(x.dtype());
#endif
  return F::interpolate(x, options);
}

torch::Tensor geglu(const torch::Tensor& projected) {
#if MUSE_WITH_CUDA
  if (use_fused(projected))
    if (auto fused = cuda::geglu(projected)) return *fused;
#endif
  auto parts = projected.chunk(2, -1);
  auto gate = torch::gelu(parts[1]);
  return torch::GradMode::is_enabled() ? parts[0] * gate : gate.mul_(parts[0]);
}

torch::Tensor concat_channels(const torch::Tensor& a, const torch::Tensor& b) {
#if MUSE_WITH_CUDA
  if (use_fused(a))
    if (auto fused = cuda::concat_channels(a, b)) return *fused;
#endif
  return torch::cat({a, b}, 1);
}

}  // namespace muse::model
