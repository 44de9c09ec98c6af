// Image to image as diffusers' StableDiffusionImg2ImgPipeline starts a sample: the init image
// through the VAE encoder, a sample of its latent distribution, noised to the first timestep the
// strength leaves. The rest of the run is text to image's (pipeline.cpp).
#include "model/networks/fused_ops.hpp"
#include "model/pipeline.hpp"

namespace muse::model {

torch::Tensor pipeline::noised_image_latents(const sample_request& r, const scheduler& schedule,
                                             at::Generator& noise) {
  fused_kernels_scope fused(fused_kernels_);
  const auto& image = r.init_image;
  // VaeImageProcessor: the bytes / 255 in float32, then 2x - 1. On the CPU: CUDA turns a division
  // by a scalar into a multiplication by its reciprocal, which rounds differently.
  auto pixels = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                 {1, image.height, image.width, 3}, torch::kUInt8);
  auto input = (pixels.to(torch::kFloat32) / 255.0).permute({0, 3, 1, 2}) * 2.0 - 1.0;
  // In the VAE's dtype: float32 where SDXL's force_upcast applies.
  const auto moments = vae_->encode_moments(input.to(device_));
  // DiagonalGaussianDistribution and retrieve_latents' default (sample_mode "sample"): mean +
  // std x the generator's first draw, drawn on the CPU in the VAE's dtype; then in the model
  // dtype, times the scaling factor.
  const int64_t channels = vae_->latent_channels();
  const auto mean = moments.narrow(1, 0, channels);
  const auto std = torch::exp(0.5 * moments.narrow(1, channels, channels).clamp(-30.0, 20.0));
  const auto posterior_draw =
      torch::randn(mean.sizes(), noise, torch::TensorOptions().dtype(moments.scalar_type()))
          .to(device_);
  const auto init_latents =
      ((mean + std * posterior_draw).to(dtype_) * vae_->scaling_factor()).to(torch::kFloat32);
  // prepare_latents: the second draw, in the model dtype, for add_noise at the first timestep.
  const auto added = torch::randn(mean.sizes(), noise, torch::TensorOptions().dtype(dtype_))
                         .to(device_, torch::kFloat32);
  return schedule.add_noise(init_latents, added);
}

}  // namespace muse::model
