#pragma once
// How much working memory (activations, beyond the loaded weights) one UNet call and one VAE
// decode take, from the model's architecture alone, so a worker can refuse a request that would
// not fit its memory budget before doing any work. Torch-free: the HTTP side reads only the
// limits derived from it (model_limits::max_pixels).
//
// The figures are an upper bound calibrated against the peak RSS of muse-generate on a CPU
// (model/README.md, "Memory"): every live activation of the largest stage, the UNet's skip
// connections, the attention score block of attention.hpp, times memory_estimate_margin.

#include <cstdint>
#include <string>
#include <vector>

namespace muse::model {

// What the estimate reads from the UNet's and the VAE's config.json.
struct memory_architecture {
  struct unet_level {
    int channels = 0;  // block_out_channels
    int layers = 1;    // resnets per down block (the up block has one more)
    bool attention = false;
    int heads = 1;
    int transformer_layers = 1;
  };
  int vae_factor = 8;  // image pixels per latent pixel, per side
  int latent_channels = 4;
  std::vector<unet_level> unet_levels;  // in down-block order; the mid block sits on the last
  int text_length = 77;
  std::vector<int> vae_channels;  // the VAE's block_out_channels (encoder order)
  int vae_layers_per_block = 1;
  bool vae_mid_attention = true;
  int dtype_bytes = 4;  // of the UNet and VAE weights and activations
};

// Working bytes, with the margin applied.
struct memory_need {
  int64_t unet_step_bytes = 0;   // one UNet call over all rows
  int64_t vae_decode_bytes = 0;  // one VAE decode over all images
  int64_t peak_bytes() const {
    return unet_step_bytes > vae_decode_bytes ? unet_step_bytes : vae_decode_bytes;
  }
};

// The factor between the counted live tensors and the measured peak (allocator slack, copies
// the count leaves out); see model/README.md.
constexpr double memory_estimate_margin = 1.5;

// `images` of `pixels` (width x height) each in one call; `unet_rows` UNet rows for them (two per
// sample with classifier-free guidance).
memory_need estimate_memory(const memory_architecture& architecture, int64_t pixels, int images,
                            int unet_rows);

// One sample of width x height with guidance (two UNet rows): what a request is checked against.
int64_t sample_memory_bytes(const memory_architecture& architecture, int64_t width, int64_t height);

// The largest width x height whose sample_memory_bytes fits `budget_bytes` (the estimate grows
// with the pixel count alone), at most `max_pixels`; 0 when not even one pixel fits.
int64_t max_fitting_pixels(const memory_architecture& architecture, int64_t budget_bytes,
                           int64_t max_pixels);

// One sample of a batch, as memory_runs sees it.
struct sample_shape {
  int64_t pixels = 0;  // width x height
  bool guided = true;  // two UNet rows
};

// Splits consecutive samples into runs whose step (each size one UNet call, the calls of a run
// one after another) or, with `decoding`, VAE decode fits `budget_bytes`; returns the number of
// samples in each run. A sample that does not fit alone still gets a run of its own.
std::vector<size_t> memory_runs(const memory_architecture& architecture, int64_t budget_bytes,
                                const std::vector<sample_shape>& samples, bool decoding);

// The memory a worker's device offers.
struct device_memory {
  bool host = true;           // the CPU: the machine's RAM, shared with everything else on it
  int64_t total_bytes = 0;    // the RAM, or the GPU's own memory
  int64_t weights_bytes = 0;  // one worker's loaded model (on a GPU, in that memory)
};

// The machine's physical memory (8 GiB when it cannot be read).
int64_t host_memory_bytes();

// A worker's memory budget: `budget_mb` when > 0, else a share of its device for each of the
// `workers_on_device` workers that may run on it at once: on the CPU half the RAM (the weights
// and the rest of the machine live in the other half); on a GPU 90% of its memory less every
// worker's weights (the rest is the CUDA context, cuBLAS workspaces and allocator slack).
// At least 1 MB: a budget too small for any image is refused by the pipeline, naming it.
int64_t memory_budget_bytes(int64_t budget_mb, const device_memory& memory, int workers_on_device);

// Bytes as whole MB (2^20), rounded up: how messages name them.
int64_t bytes_to_mb(int64_t bytes);

}  // namespace muse::model
