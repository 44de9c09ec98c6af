#include "model/cuda/fused_ops_cuda.hpp"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "model/cuda/kernels.hpp"

namespace muse::model::cuda {

namespace {

std::optional<element_type> element_type_of(const torch::Tensor& x) {
  switch (x.scalar_type()) {
    case torch::kFloat32:
      return element_type::float32;
    case torch::kFloat16:
      return element_type::float16;
    case torch::kBFloat16:
      return element_type::bfloat16;
    default:
      return std::nullopt;
  }
}

bool aligned(const torch::Tensor& x) {
  return !x.defined() || reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 == 0;
}

bool inference() { return !torch::GradMode::is_enabled(); }

}  // namespace

std::optional<torch::Tensor> group_norm_nhwc(const torch::Tensor& x, const torch::Tensor& addend,
                                             int64_t groups, const torch::Tensor& weight,
                                             const torch::Tensor& bias, double eps, bool silu) {
  const auto type = element_type_of(x);
  if (!type || !inference() || x.dim() != 4 ||
      !x.is_contiguous(torch::MemoryFormat::ChannelsLast) || !aligned(x))
    return std::nullopt;
  for (const auto* p : {&weight, &bias, &addend})
    if (p->defined() && (p->scalar_type() != x.scalar_type() || !p->is_contiguous() ||
                         p->device() != x.device() || !aligned(*p)))
      return std::nullopt;
  if (addend.defined() &&
      (addend.dim() != 2 || addend.size(0) != x.size(0) || addend.size(1) != x.size(1)))
    return std::nullopt;
  group_norm_shape shape;
  shape.images = x.size(0);
  shape.channels = static_cast<int>(x.size(1));
  shape.pixels = x.size(2) * x.size(3);
  shape.groups = static_cast<int>(groups);
  if (!group_norm_supported(*type, shape)) return std::nullopt;

  c10::cuda::CUDAGuard device(x.device());
  auto output = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
  auto workspace = torch::empty({static_cast<int64_t>(group_norm_workspace_floats(*type, shape))},
                                x.options().dtype(torch::kFloat32));
  group_norm_nhwc(*type, x.data_ptr(), addend.defined() ? addend.data_ptr() : nullptr,
                  weight.defined() ? weight.data_ptr() : nullptr,
                  bias.defined() ? bias.data_ptr() : nullptr, output.data_ptr(), shape,
                  static_cast<float>(eps), silu, workspace.data_ptr<float>(),
                  c10::cuda::getCurrentCUDAStream());
  return output;
}

bool add_residual_and_bias(torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  const auto type = element_type_of(a);
  const auto channels_last = torch::MemoryFormat::ChannelsLast;
  if (!type || !inference() || a.dim() != 4 || !a.is_contiguous(channels_last) || !aligned(a) ||
      a.size(1) % 8 != 0 || a.numel() / 8 >= (int64_t{1} << 32))
    return false;
  if (b.defined() && (b.sizes() != a.sizes() || b.scalar_type() != a.scalar_type() ||
                      !b.is_contiguous(channels_last) || !aligned(b)))
    return false;
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != a.size(1) ||
                         bias.scalar_type() != a.scalar_type() || !aligned(bias)))
    return false;
  c10::cuda::CUDAGuard device(a.device());
  add_residual_and_bias(*type, a.data_ptr(), b.defined() ? b.data_ptr() : nullptr,
                        bias.defined() ? bias.data_ptr() : nullptr, a.numel(),
                        static_cast<int>(a.size(1)), c10::cuda::getCurrentCUDAStream());
  return true;
}

std::optional<torch::Tensor> layer_norm(torch::Tensor& x, const torch::Tensor& residual,
                                        const torch::Tensor& sum_bias, const torch::Tensor& weight,
                                        const torch::Tensor& bias, double eps) {
  const auto type = element_type_of(x);
  if (!type || !inference() || x.dim() < 1 || !x.is_contiguous() || !aligned(x) ||
      !layer_norm_supported(*type, x.size(-1)))
    return std::nullopt;
  if (residual.defined() &&
      (residual.sizes() != x.sizes() || residual.scalar_type() != x.scalar_type() ||
       !residual.is_contiguous() || !aligned(residual)))
    return std::nullopt;
  if (sum_bias.defined() && !residual.defined()) return std::nullopt;
  for (const auto* p : {&weight, &bias, &sum_bias})
    if (p->defined() &&
        (p->dim() != 1 || p->size(0) != x.size(-1) || p->scalar_type() != x.scalar_type() ||
         !p->is_contiguous() || p->device() != x.device() || !aligned(*p)))
      return std::nullopt;
  c10::cuda::CUDAGuard device(x.device());
  auto output = torch::empty_like(x);
  const int64_t columns = x.size(-1);
  layer_norm(*type, x.data_ptr(), residual.defined() ? residual.data_ptr() : nullptr,
             sum_bias.defined() ? sum_bias.data_ptr() : nullptr,
             weight.defined() ? weight.data_ptr() : nullptr,
             bias.defined() ? bias.data_ptr() : nullptr, output.data_ptr(), x.numel() / columns,
             static_cast<int>(columns), static_cast<float>(eps), c10::cuda::getCurrentCUDAStream());
  return output;
}

std::optional<torch::Tensor> upsample_nearest_2x(const torch::Tensor& x) {
  const auto type = element_type_of(x);
  if (!type || !inference() || x.dim() != 4 ||
      !x.is_contiguous(torch::MemoryFormat::ChannelsLast) || !aligned(x) ||
      !upsample_nearest_2x_supported(*type, static_cast<int>(x.size(1))))
    return std::nullopt;
  c10::cuda::CUDAGuard device(x.device());
  auto output = torch::empty({x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)},
                             x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  upsample_nearest_2x(*type, x.data_ptr(), output.data_ptr(), x.size(0), x.size(2), x.size(3),
                      static_cast<int>(x.size(1)), c10::cuda::getCurrentCUDAStream());
  return output;
}

std::optional<torch::Tensor> geglu(const torch::Tensor& projected) {
  const auto type = element_type_of(projected);
  if (!type || !inference() || projected.dim() < 1 || !projected.is_contiguous() ||
      !aligned(projected) || projected.size(-1) % 16 != 0)
    return std::nullopt;
  const int64_t columns = projected.size(-1) / 2;
  const int64_t rows = projected.numel() / projected.size(-1);
  auto sizes = projected.sizes().vec();
  sizes.back() = columns;
  c10::cuda::CUDAGuard device(projected.device());
  auto output = torch::empty(sizes, projected.options());
  geglu(*type, projected.data_ptr(), output.data_ptr(), rows, columns,
        c10::cuda::getCurrentCUDAStream());
  return output;
}

std::optional<torch::Tensor> concat_channels(const torch::Tensor& a, const torch::Tensor& b) {
  const auto type = element_type_of(a);
  const auto channels_last = torch::MemoryFormat::ChannelsLast;
  if (!type || !inference() || a.dim() != 4 || b.dim() != 4 || b.scalar_type() != a.scalar_type() ||
      b.device() != a.device() || a.size(0) != b.size(0) || a.size(2) != b.size(2) ||
      a.size(3) != b.size(3) || !a.is_contiguous(channels_last) ||
      !b.is_contiguous(channels_last) || !aligned(a) || !aligned(b))
    return std::nullopt;
  const int64_t pixels = a.size(0) * a.size(2) * a.size(3);
  const auto channels_a = static_cast<int>(a.size(1)), channels_b = static_cast<int>(b.size(1));
  if (!concat_channels_supported(*type, pixels, channels_a, channels_b)) return std::nullopt;
  c10::cuda::CUDAGuard device(a.device());
  auto output = torch::empty({a.size(0), a.size(1) + b.size(1), a.size(2), a.size(3)},
                             a.options().memory_format(channels_last));
  concat_channels(*type, a.data_ptr(), b.data_ptr(), output.data_ptr(), pixels, channels_a,
                  channels_b, c10::cuda::getCurrentCUDAStream());
  return output;
}

}  // namespace muse::model::cuda
