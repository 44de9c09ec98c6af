#include "model/denoiser.hpp"

namespace muse::model {

torch::Tensor run_unet(unet_model_impl& unet, const torch::Tensor& sample,
                       const torch::Tensor& timesteps, const conditioning& condition) {
  return unet.forward(sample, timesteps, condition.context,
                      text_time_conditioning{condition.pooled, condition.time_ids});
}

denoiser eager_denoiser(unet_model unet) {
  return [unet = std::move(unet)](const torch::Tensor& sample, const torch::Tensor& timesteps,
                                  const conditioning& condition) mutable {
    return run_unet(*unet, sample, timesteps, condition);
  };
}

}  // namespace muse::model
