#pragma once
// The step-wise, batched Stable Diffusion pipeline (diffusers' StableDiffusionPipeline and
// StableDiffusionXLPipeline, one denoising step at a time): prompts -> conditioning -> initial
// latents per sample (noise, or an init image's noised latents as the img2img pipelines make
// them) -> step(batch) -> decode. Each sample carries its own scheduler, generator, guidance and
// conditioning, so samples can join and leave a running batch between steps and still give the
// image they would give alone. The architecture (SD 1.x, 2.x, XL) is detected once at load; past
// that only the conditioner and the denoiser know it.

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/architecture.hpp"
#include "model/denoiser.hpp"
#include "model/generator.hpp"
#include "model/lora_library.hpp"
#include "model/memory_estimate.hpp"
#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"
#include "model/sampling/scheduler.hpp"
#include "model/text/conditioner.hpp"

namespace muse::model {

// Sets libtorch's CPU threads (process-wide): `requested`, or one per hardware core when 0.
// Some libtorch builds (Debian's 1.13) start with a single thread, which leaves cores idle.
void set_cpu_threads(int requested);

// One image in progress.
struct sample_state {
  int width = 0;
  int height = 0;
  float guidance_scale = 1.0f;
  std::unique_ptr<scheduler> schedule;
  at::Generator
      noise;  // CPU generator seeded with the request's seed (initial latents, ancestral noise)
  torch::Tensor latents;          // (1, C, h, w) float32 on the model's device
  conditioning cond;              // the prompt's, one row
  conditioning uncond;            // the negative prompt's; empty when guidance_scale <= 1
  lora_call::row_adapters loras;  // the request's LoRAs, on both of its UNet rows
  int preview_every = 0;          // sample_request::preview_every

  bool uses_guidance() const { return guidance_scale > 1.0f; }
  bool finished() const { return schedule->finished(); }
};

// Per-stage wall time of the last calls, for muse-generate and the worker's stats.
struct pipeline_timings {
  double encode_ms = 0;
  double unet_ms = 0;
  double decode_ms = 0;
};

class pipeline {
 public:
  // A diffusers-layout directory, or a single-file .safetensors described by the diffusers
  // configs (model_index.json, */config.json, tokenizer/, scheduler/) in config_dir (default:
  // the file's directory).
  static std::shared_ptr<pipeline> load(const std::string& path, const std::string& device,
                                        const std::string& dtype,
                                        const std::string& default_scheduler,
                                        const std::string& config_dir = "",
                                        const cuda_engine_options& cuda = {});

  // Prompts -> one conditioning row each, one call per text encoder over the distinct texts
  // (repeats share their row).
  conditioning encode(const std::vector<text_prompt>& prompts);
  // Validates the requests, encodes all prompts (and negatives where guidance applies) in one
  // call, draws each sample's initial latents. Throws model_error on a bad request. An empty
  // negative prompt is diffusers' negative_prompt=None: SDXL zeroes it
  // (force_zeros_for_empty_prompt), SD 1/2 encode the empty text.
  std::vector<sample_state> start(const std::vector<sample_request>& requests);
  // One denoising step for every unfinished sample: one UNet call per latent size in the batch
  // (2 rows for samples with guidance > 1). A call with LoRAs on any row runs the eager UNet
  // (a CUDA-graph replay cannot take per-request adapters), each row with its sample's LoRAs.
  void step(const std::vector<sample_state*>& batch);
  // Latents -> 8-bit RGB images (one VAE call per latent size).
  std::vector<rgb_image> decode(const std::vector<sample_state*>& batch);
  // Live previews, without the VAE: each sample's predicted clean latents (the scheduler's
  // denoised(), else its latents) projected to RGB by a fixed linear map per architecture (the
  // "latent to RGB" factors preview UIs use), at the latent's size. A model whose latents are not
  // SD's 4 channels gets an empty image.
  std::vector<rgb_image> preview(const std::vector<sample_state*>& batch) const;

  model_limits limits() const { return limits_; }
  const scheduler_factory& schedulers() const { return *schedulers_; }
  torch::Device device() const { return device_; }
  torch::Dtype dtype() const { return dtype_; }
  const std::string& name() const { return name_; }
  architecture family() const { return family_; }
  const pipeline_timings& timings() const { return timings_; }
  // Throws model_error if `request` is outside limits().
  void validate(const sample_request& request) const;

  // Lets requests name LoRAs: files NAME.safetensors in `dir`, loaded ones kept up to
  // `cache_bytes` (lora_library). Without it a request with LoRAs is refused.
  void set_lora_library(const std::string& dir, int64_t cache_bytes);
  lora_library* loras() const { return loras_.get(); }

  // Limits sizes to what fits `budget_bytes` of working memory (max_pixels, max_size, the
  // default size). Throws model_error when not even the smallest image fits.
  void set_memory_budget(int64_t budget_bytes);
  int64_t memory_budget() const { return memory_budget_; }  // 0 = none set
  // The device's memory and the bytes of the loaded weights in it: what memory_budget_bytes
  // shares out by default.
  device_memory memory() const;
  const memory_architecture& memory_shape() const { return memory_shape_; }

 private:
  pipeline(torch::Device device, torch::Dtype dtype) : device_(device), dtype_(dtype) {}
  // encode(prompts) with each prompt's text encoders adapted by its request's LoRAs:
  // adapters[owner[i]] for prompts[i]. One encode call per distinct LoRA set.
  conditioning encode_with_loras(const std::vector<text_prompt>& prompts,
                                 const std::vector<size_t>& owner,
                                 const std::vector<lora_call::row_adapters>& adapters);
  // Layout, fused kernels and CUDA graphs for a CUDA device, as `options` say.
  void prepare_cuda(const cuda_engine_options& options);
  // Image to image: the request's init image encoded by the VAE (a sample of the latent
  // distribution, the first draw of `noise`) and noised to `schedule`'s first timestep (the
  // second draw), as float32 latents (img2img.cpp).
  torch::Tensor noised_image_latents(const sample_request& request, const scheduler& schedule,
                                     at::Generator& noise);

  torch::Device device_;
  torch::Dtype dtype_;
  std::string name_;
  architecture family_ = architecture::sd1;
  std::unique_ptr<conditioner> conditioner_;
  unet_model unet_{nullptr};
  denoiser denoise_;  // eager_denoiser(unet_), or its replay as CUDA graphs
  denoiser eager_;    // eager_denoiser(unet_): for calls with LoRAs
  std::unique_ptr<lora_library> loras_;
  vae_model vae_{nullptr};
  std::unique_ptr<scheduler_factory> schedulers_;
  model_limits limits_;
  memory_architecture memory_shape_;
  int64_t memory_budget_ = 0;
  pipeline_timings timings_;
  bool fused_kernels_ = true;  // cuda_engine_options::fused_kernels
};

}  // namespace muse::model
