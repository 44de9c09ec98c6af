#pragma once
// The UNet step replayed as CUDA graphs. At small batches a step is bound by launching ~1,000
// kernels, not by running them; a graph replays them all with one launch. One graph per
// (row bucket, latent size, conditioning shape: context, and SDXL's pooled text and time ids): a
// call of R rows runs the graph of the smallest bucket
// >= R, its extra rows padded (rows are independent, so padding changes no real row). A graph is
// captured the first time its shape runs (two warm-up calls, so that cuDNN has chosen its
// algorithms, then the capture), and every graph draws on one shared memory pool.

#include <torch/torch.h>

#include "model/denoiser.hpp"

namespace muse::model::cuda {

// Row buckets; calls of more rows than the largest run eagerly.
const std::vector<int64_t>& graph_row_buckets();

// Same contract as eager_denoiser(unet). Not thread-safe: one caller at a time, as the pipeline
// is used.
denoiser graphed_unet(unet_model unet);

}  // namespace muse::model::cuda
