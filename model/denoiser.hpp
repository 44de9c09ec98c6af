#pragma once
// The denoiser as the pipeline calls it: whatever the architecture, one call takes the noisy
// latents, one timestep per row and the rows' conditioning (conditioner.hpp), and returns the
// model output (noise or v). SD 1.x/2.x read only the context; SDXL adds the pooled text
// embedding and the time ids. The eager UNet and its CUDA-graph replay (cuda/unet_graphs.hpp)
// are the two implementations.

#include <torch/torch.h>

#include <functional>

#include "model/networks/unet.hpp"
#include "model/text/conditioner.hpp"

namespace muse::model {

// sample: (B, C, h, w) in the model dtype; timesteps: (B) float; condition: B rows. Returns a
// fresh (B, C, h, w) tensor the caller owns.
using denoiser = std::function<torch::Tensor(
    const torch::Tensor& sample, const torch::Tensor& timesteps, const conditioning& condition)>;

// The UNet's forward, with the pooled text and time ids as added conditioning where the model
// takes them (an SD 1/2 UNet given them throws, as does an SDXL UNet without them).
torch::Tensor run_unet(unet_model_impl& unet, const torch::Tensor& sample,
                       const torch::Tensor& timesteps, const conditioning& condition);

// run_unet on `unet`, called eagerly.
denoiser eager_denoiser(unet_model unet);

}  // namespace muse::model
