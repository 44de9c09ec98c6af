// The fused CUDA kernels against libtorch's own ops on the same inputs: the same values up to one
// rounding of the dtype, bit-identical when run twice, and libtorch's path where they do not apply.
// libtorch's CUDA builds log through glog, whose CHECK macro would shadow Catch2's: torch first.
#include <torch/torch.h>
#undef CHECK
#include <catch2/catch.hpp>

#include "model/networks/fused_ops.hpp"
#include "model/networks/layers.hpp"

using namespace muse::model;

namespace {

const torch::Device gpu(torch::kCUDA, 0);

// Eager rounds twice where the kernel rounds once: allow a few units in the last place.
double tolerance(torch::Dtype dtype) {
  if (dtype == torch::kFloat16) return 3.0 / 1024;
  if (dtype == torch::kBFloat16) return 3.0 / 128;
  return 1e-5;
}

double max_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  return (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
}

double scale_of(const torch::Tensor& t) {
  return std::max(1.0, t.to(torch::kFloat64).abs().max().item<double>());
}

torch::nn::GroupNorm random_norm(int groups, int64_t channels, double eps, torch::Dtype dtype) {
  torch::nn::GroupNorm norm(torch::nn::GroupNormOptions(groups, channels).eps(eps));
  torch::NoGradGuard no_grad;
  norm->weight.normal_(1.0, 0.5);
  norm->bias.normal_(0.0, 0.5);
  norm->to(gpu, dtype);
  return norm;
}

}  // namespace

TEST_CASE("fused group norm (+ SiLU) matches libtorch's", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  struct shape {
    int64_t n, c, h, w;
    int groups;
  };
  // The UNet's and VAE's shapes at 512x512 (64x64 latents) and some odd ones.
  const std::vector<shape> shapes = {
      {2, 320, 64, 64, 32},   {16, 1280, 8, 8, 32}, {3, 960, 32, 32, 32},  {2, 2560, 8, 8, 32},
      {1, 128, 256, 256, 32}, {4, 32, 16, 16, 32},  {2, 1920, 16, 16, 32}, {5, 64, 7, 9, 8}};
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16})
    for (const auto& s : shapes)
      for (bool silu : {false, true}) {
        INFO("dtype " << dtype << " shape " << s.n << "x" << s.c << "x" << s.h << "x" << s.w
                      << " silu " << silu);
        auto norm = random_norm(s.groups, s.c, 1e-5, dtype);
        auto x = (torch::randn({s.n, s.c, s.h, s.w}, torch::TensorOptions(gpu)) * 3 + 1)
                     .to(dtype)
                     .contiguous(torch::MemoryFormat::ChannelsLast);
        torch::Tensor eager;
        {
          fused_kernels_scope off(false);
          eager = group_norm(x, norm, silu);
        }
        const auto fused = group_norm(x, norm, silu);
        const auto again = group_norm(x, norm, silu);
        // (float32 with more than 2048 channels is past the kernel's lanes: libtorch's NCHW
        // result.)
        if (dtype != torch::kFloat32 || s.c <= 2048)
          CHECK(fused.is_contiguous(torch::MemoryFormat::ChannelsLast));
        const double error = max_error(fused, eager);
        INFO("max error " << error << " scale " << scale_of(eager));
        CHECK(error <= tolerance(dtype) * scale_of(eager));
        CHECK(torch::equal(fused, again));
      }
}

TEST_CASE("fused group norm adds a per-channel addend first (a resnet's time embedding)",
          "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  for (auto dtype : {torch::kFloat32, torch::kFloat16}) {
    INFO("dtype " << dtype);
    auto norm = random_norm(32, 640, 1e-5, dtype);
    auto x = torch::randn({4, 640, 32, 32}, torch::TensorOptions(gpu))
                 .to(dtype)
                 .contiguous(torch::MemoryFormat::ChannelsLast);
    auto addend = (torch::randn({4, 640}, torch::TensorOptions(gpu)) * 2).to(dtype);
    torch::Tensor eager;
    {
      fused_kernels_scope off(false);
      eager = group_norm(x.clone(), norm, true, addend);
    }
    const auto fused = group_norm(x, norm, true, addend);
    const double error = max_error(fused, eager);
    INFO("max error " << error);
    CHECK(error <= tolerance(dtype) * scale_of(eager));
  }
}

TEST_CASE("group norm falls back to libtorch where the kernel does not apply", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(2);
  // NCHW input, and 36 channels (not a multiple of 8).
  auto norm = random_norm(4, 36, 1e-6, torch::kFloat16);
  auto x = torch::randn({2, 36, 8, 8}, torch::TensorOptions(gpu).dtype(torch::kFloat16));
  torch::Tensor eager;
  {
    fused_kernels_scope off(false);
    eager = group_norm(x, norm, true);
  }
  CHECK(torch::equal(group_norm(x, norm, true), eager));
  CHECK(torch::equal(group_norm(x.contiguous(torch::MemoryFormat::ChannelsLast), norm, true),
                     eager.contiguous(torch::MemoryFormat::ChannelsLast)));
}

TEST_CASE("fused GEGLU matches libtorch's", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16})
    for (auto sizes :
         std::vector<std::vector<int64_t>>{{2, 4096, 2 * 1280}, {16, 64, 2 * 5120}, {3, 5, 32}}) {
      INFO("dtype " << dtype << " last dim " << sizes.back());
      auto x = (torch::randn(sizes, torch::TensorOptions(gpu)) * 2).to(dtype);
      torch::Tensor eager;
      {
        fused_kernels_scope off(false);
        eager = geglu(x);
      }
      const auto fused = geglu(x);
      const double error = max_error(fused, eager);
      INFO("max error " << error);
      CHECK(error <= tolerance(dtype) * scale_of(eager));
      CHECK(torch::equal(fused, geglu(x)));
    }
}

TEST_CASE("fused layer norm (+ residual) matches libtorch's", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  // A transformer block's rows at 512x512 (64x64, 32x32, 16x16 latents), the text encoder's, odd
  // ones; 36 and 2048 (float32) columns take libtorch's path.
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 4096, 320}, {16, 1024, 640}, {16, 256, 1280}, {2, 77, 768},
      {3, 5, 24},     {2, 7, 36},      {2, 9, 2048}};
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16})
    for (const auto& sizes : shapes)
      for (int variant : {0, 1, 2}) {  // none, a residual, a residual and a bias on the sum
        const bool with_residual = variant > 0;
        INFO("dtype " << dtype << " shape " << sizes[0] << "x" << sizes[1] << "x" << sizes[2]
                      << " variant " << variant);
        torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({sizes.back()}).eps(1e-5));
        norm->weight.normal_(1.0, 0.5);
        norm->bias.normal_(0.0, 0.5);
        norm->to(gpu, dtype);
        const auto x = (torch::randn(sizes, torch::TensorOptions(gpu)) * 3 + 1).to(dtype);
        const auto residual = with_residual
                                  ? (torch::randn(sizes, torch::TensorOptions(gpu)) * 2).to(dtype)
                                  : torch::Tensor();
        const auto sum_bias =
            variant == 2 ? torch::randn({sizes.back()}, torch::TensorOptions(gpu)).to(dtype)
                         : torch::Tensor();
        auto run = [&](bool fused) {
          fused_kernels_scope scope(fused);
          if (!with_residual) return normed_sum{x, layer_norm(x, norm)};
          return add_layer_norm(x.clone(), residual, norm, sum_bias);
        };
        const auto eager = run(false);
        const auto fused = run(true);
        CHECK(torch::equal(fused.sum, eager.sum));
        const double error = max_error(fused.normed, eager.normed);
        INFO("max error " << error);
        CHECK(error <= tolerance(dtype) * scale_of(eager.normed));
        CHECK(torch::equal(run(true).normed, fused.normed));
      }
}

TEST_CASE("fused nearest upsampling by 2 copies exactly what libtorch's does", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  struct shape {
    int64_t n, c, h, w;
  };
  // The UNet's and VAE's upsamplers at 512x512, odd sizes; 12 half channels take libtorch's path.
  const std::vector<shape> shapes = {
      {2, 1280, 8, 8}, {16, 640, 32, 32}, {2, 512, 128, 128}, {3, 256, 7, 5}, {2, 12, 9, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16})
    for (const auto& s : shapes) {
      INFO("dtype " << dtype << " shape " << s.n << "x" << s.c << "x" << s.h << "x" << s.w);
      const auto x = torch::randn({s.n, s.c, s.h, s.w}, torch::TensorOptions(gpu))
                         .to(dtype)
                         .contiguous(torch::MemoryFormat::ChannelsLast);
      torch::Tensor eager;
      {
        fused_kernels_scope off(false);
        eager = upsample_nearest(x, {});
      }
      const auto fused = upsample_nearest(x, {});
      const auto sized = upsample_nearest(x, {2 * s.h, 2 * s.w});
      CHECK(fused.sizes() == eager.sizes());
      CHECK(fused.is_contiguous(torch::MemoryFormat::ChannelsLast));
      CHECK(torch::equal(fused, eager));
      CHECK(torch::equal(sized, eager));
    }
}

TEST_CASE("fused channel concatenation copies exactly what torch::cat does", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(6);
  struct shape {
    int64_t n, a, b, h, w;
  };
  // The UNet's skip connections at 512x512, odd sizes; 12 half channels take libtorch's path.
  const std::vector<shape> shapes = {{16, 1280, 1280, 8, 8},
                                     {2, 640, 320, 64, 64},
                                     {3, 1280, 640, 32, 32},
                                     {2, 320, 16, 7, 5},
                                     {2, 12, 8, 4, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16})
    for (const auto& s : shapes) {
      INFO("dtype " << dtype << " shape " << s.n << "x(" << s.a << "+" << s.b << ")x" << s.h << "x"
                    << s.w);
      const auto options = torch::TensorOptions(gpu);
      const auto a = torch::randn({s.n, s.a, s.h, s.w}, options)
                         .to(dtype)
                         .contiguous(torch::MemoryFormat::ChannelsLast);
      const auto b = torch::randn({s.n, s.b, s.h, s.w}, options)
                         .to(dtype)
                         .contiguous(torch::MemoryFormat::ChannelsLast);
      const auto fused = concat_channels(a, b);
      CHECK(fused.is_contiguous(torch::MemoryFormat::ChannelsLast));
      CHECK(torch::equal(fused, torch::cat({a, b}, 1)));
    }
}

TEST_CASE("a convolution whose bias the fused kernel adds matches libtorch's", "[gpu][fused]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  struct shape {
    int64_t in, out, stride, h;
  };
  // A UNet's downsampler, upsampler, conv_in (4 channels in) and conv_out (4 out: libtorch's).
  const std::vector<shape> shapes = {
      {320, 320, 2, 64}, {1280, 1280, 1, 16}, {4, 320, 1, 64}, {320, 4, 1, 64}};
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16})
    for (const auto& s : shapes) {
      INFO("dtype " << dtype << " " << s.in << " -> " << s.out << " stride " << s.stride);
      torch::nn::Conv2d conv(torch::nn::Conv2dOptions(s.in, s.out, 3).stride(s.stride).padding(1));
      conv->to(gpu, dtype);
      use_channels_last(*conv);
      const auto x = torch::randn({2, s.in, s.h, s.h}, torch::TensorOptions(gpu))
                         .to(dtype)
                         .contiguous(torch::MemoryFormat::ChannelsLast);
      torch::Tensor eager;
      {
        fused_kernels_scope off(false);
        eager = convolve(conv, x);
      }
      const auto fused = convolve(conv, x);
      CHECK(fused.is_contiguous(torch::MemoryFormat::ChannelsLast));
      const double error = max_error(fused, eager);
      INFO("max error " << error);
      CHECK(error <= tolerance(dtype) * scale_of(eager));
    }
}
