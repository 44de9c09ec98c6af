#pragma once
// The torch-free face of model/: what the actors call to turn prompts into images. Including
// this header costs no libtorch compile time; pipeline.hpp holds the step-wise torch API.

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/settings.hpp"

namespace muse::model {

// 8-bit RGB, row-major, width * height * 3 bytes.
struct rgb_image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// A LoRA a request applies: a file's name in the model's LoRA folder (model_settings::lora_dir,
// without ".safetensors") and the weight of its low-rank update (diffusers' LoRA scale).
struct lora_use {
  std::string name;
  double scale = 1.0;
};

// One image to make. Seeds follow diffusers: the initial latents are torch.randn(1, C, H/f, W/f)
// from a CPU generator seeded with `seed`, whatever batch the sample rides in.
struct sample_request {
  std::string prompt;
  std::string negative_prompt;
  int steps = 25;
  float guidance_scale = 7.5f;
  uint64_t seed = 0;
  int width = 64;
  int height = 64;
  std::string scheduler;  // "" = the generator's default
  // Image to image (diffusers' StableDiffusionImg2ImgPipeline): the picture to start from, of the
  // request's width x height; width 0 = none (text to image). `strength` (0 < s <= 1) is the share
  // of the schedule that reworks it: the last int(steps x strength) steps run, from the image
  // noised to the first of them.
  rgb_image init_image;
  double strength = 0.8;
  // SDXL's micro-conditioning (StableDiffusionXLPipeline's original_size and
  // crops_coords_top_left): the size the picture is said to come from (0: width x height, the
  // pipeline's default) and the crop's top-left corner. SD 1.x/2.x ignore them.
  int original_width = 0;
  int original_height = 0;
  int crop_top = 0;
  int crop_left = 0;
  // LoRAs on the UNet and text encoders for this sample alone: samples with different LoRAs (or
  // none) still share one UNet call, each row getting its own update (model/README.md).
  std::vector<lora_use> loras;
  // Live previews: every this many steps (0: none), a step_report of the unfinished sample
  // carries a cheap picture of where it stands (pipeline::preview).
  int preview_every = 0;

  bool starts_from_image() const { return init_image.width > 0; }
};

// diffusers' get_timesteps: of `steps`, the first steps - int(steps x strength) are skipped.
struct strength_cut {
  int skipped_steps = 0;    // t_start
  int denoising_steps = 0;  // steps - t_start
};
// Throws model_error when strength is outside (0, 1] or leaves no step (steps x strength < 1).
strength_cut cut_by_strength(int steps, double strength);
// The denoising steps a request runs: `steps`, or for image to image the strength's share of them
// (image_to_image_steps: `steps` where cut_by_strength refuses the pair).
int image_to_image_steps(int steps, double strength);
int denoising_steps(const sample_request& request);
// Throws model_error naming what is wrong with a request's init image and strength: pixels that
// are not width x height x 3 bytes, a size other than the request's, the strength cut above.
void check_image_to_image(const sample_request& request);

// What a request may ask of this model; the HTTP layer validates against it.
struct model_limits {
  int min_size = 8;
  int max_size = 1024;
  int size_multiple =
      8;  // width and height must be multiples of this (the VAE factor x UNet depth)
  int default_width = 64;
  int default_height = 64;
  // width x height at most this: the largest picture whose estimated working memory fits the
  // worker's memory budget (memory_estimate.hpp). Every size within min_size..max_size and
  // max_pixels fits; max_size is the longest side that does (with the other side min_size).
  int64_t max_pixels = int64_t(1024) * 1024;
  int64_t memory_budget_mb = 0;  // the budget max_pixels comes from; 0 = none applied
  int max_steps = 150;
  std::vector<std::string> schedulers;  // names accepted in sample_request::scheduler
};

// Called after every denoising step of every live sample. Returning false cancels that sample:
// it is dropped from the batch at the next step and its image comes back empty (width 0).
using step_callback = std::function<bool(size_t sample_index, int step, int total_steps)>;

// Where and how to load a model: its settings (the deployment's model section) plus the device
// this generator runs on.
struct generator_options : model_settings {
  std::string device = "cpu";  // cpu | cuda | cuda:N
  // Workers sharing the device; the default memory budget is split between them.
  int32_t workers_on_device = 1;
};

class model_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What one step() did for one sample of a running batch.
struct step_report {
  uint64_t tag = 0;  // the caller's id for the sample (given to add())
  int step = 0;      // steps done so far (an image-to-image sample counts from its first)
  int total_steps = 0;
  bool finished = false;
  rgb_image image;  // set when finished
  // Set on the steps sample_request::preview_every asks for (not the last): the latents
  // projected to RGB at the latent's size (pipeline::preview).
  rgb_image preview;
};

// A batch that samples join and leave between denoising steps (step-level batching): each
// sample keeps its own timestep, step count, guidance and noise, so its image is the same
// whatever batch it rides in. Blocking; use from one thread at a time.
class running_batch {
 public:
  virtual ~running_batch() = default;
  // Adds a sample; it joins at the next step(). Throws model_error on bad input.
  virtual void add(uint64_t tag, const sample_request& request) = 0;
  // Drops a sample (cancelled); no report comes for it afterwards.
  virtual void remove(uint64_t tag) = 0;
  virtual size_t size() const = 0;
  // One denoising step for every sample (one model call for all); finished samples are decoded,
  // reported with their image and leave the batch.
  virtual std::vector<step_report> step() = 0;
};

class generator {
 public:
  virtual ~generator() = default;
  virtual std::string name() const = 0;
  virtual model_limits limits() const = 0;
  virtual std::unique_ptr<running_batch> start_batch() = 0;

  // Runs one batch to completion (or cancellation) on top of start_batch(). Blocking: call it
  // off any cooperative scheduler. Returns one image per request, in order (empty if cancelled).
  std::vector<rgb_image> generate(const std::vector<sample_request>& batch,
                                  const step_callback& on_step = {});
};

// Loads the pipeline at options.path. Throws model_error naming what is wrong.
std::unique_ptr<generator> load_generator(const generator_options& options);

// The benchmark-only stage behind model type "benchmark_zero_compute": every sample finishes at
// its first step() with a blank image of the asked size, so what remains is the serving stack.
std::unique_ptr<generator> make_zero_compute_generator();

// How hard encode_png works: `standard` for the images served (zlib level 6, libpng's adaptive
// row filters); `fast` for live previews (level 1, no filtering): several times quicker, the
// file somewhat larger.
enum class png_effort { standard, fast };

// PNG (8-bit RGB, zlib) of an image, as bytes.
std::string encode_png(const rgb_image& image, png_effort effort = png_effort::standard);

}  // namespace muse::model
