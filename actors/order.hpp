#pragma once
// What crosses the gateway's face with an order: the images asked for, the served model's limits
// they are checked against, and the outcome. Plain C++: no CAF, nothing of model/ (the actors
// convert to model/'s types in model_conversion.hpp), so http/ builds against this alone.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace muse::actors {

// 8-bit RGB, row-major, width * height * 3 bytes (model::rgb_image's twin).
struct rgb_pixels {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// A LoRA a sample applies (model::lora_use): a file's name in model.lora_dir and its scale.
struct lora_choice {
  std::string name;
  double scale = 1.0;
};

// One image to make. Seeds follow diffusers: the same prompt, seed, steps, size and scheduler
// give the same image, whatever batch the sample rides in.

struct sample_request {
  std::string prompt;
  std::string negative_prompt;
  int steps = 25;
  float guidance_scale = 7.5f;
  uint64_t seed = 0;
  int width = 64;
  int height = 64;
  std::string scheduler;  // "" = the model's default
  // Image to image: the picture to start from (width x height, the sample's size); width 0 =
  // none. strength (0 < s <= 1): the share of the schedule that reworks it, as diffusers'.
  rgb_pixels init_image;
  double strength = 0.8;
  // SDXL's micro-conditioning (model::sample_request): the size the picture is said to come
  // from (0: width x height) and the crop's top-left corner.
  int original_width = 0;
  int original_height = 0;
  int crop_top = 0;
  int crop_left = 0;
  // LoRAs for this sample alone (model::sample_request::loras): file names and scales.
  std::vector<lora_choice> loras;
  // Live previews every this many steps (0: none; model::sample_request::preview_every).
  int preview_every = 0;
};

// What a request may ask of the served model; http/ validates against it.
struct model_limits {
  int min_size = 8;
  int max_size = 1024;
  int size_multiple = 8;  // width and height must be multiples of this
  int default_width = 64;
  int default_height = 64;
  // width x height at most this: the largest picture that fits the worker's memory budget.
  int64_t max_pixels = int64_t(1024) * 1024;
  int64_t memory_budget_mb = 0;  // the budget max_pixels comes from; 0 = none applied
  int max_steps = 150;
  std::vector<std::string> schedulers;  // names accepted in sample_request::scheduler
};

// Why an order got no images. http/ maps each to its status code.
enum class failure {
  invalid_request,  // 400: the model refused the input
  queue_full,       // 429 + Retry-After
  no_worker,        // 503: no worker is ready
  timeout,          // 504: the deadline passed
  cancelled,        // the client cancelled or went away
  shutting_down,    // 503: the gateway is draining
  internal,         // 500
};
const char* to_string(failure f);
constexpr failure all_failures[] = {
    failure::invalid_request, failure::queue_full,    failure::no_worker, failure::timeout,
    failure::cancelled,       failure::shutting_down, failure::internal};

struct generate_order {
  std::string id;                       // unique; assigned by http/
  std::string model;                    // a served model's name; "" = the default (the first)
  std::vector<sample_request> samples;  // one per image (n); each rides the batcher alone
  std::chrono::steady_clock::time_point deadline;
};

struct generated_image {
  std::string png;  // PNG bytes
  uint64_t seed = 0;
};

struct generate_outcome {
  std::string id;
  std::vector<generated_image> images;  // empty on failure
  int steps = 0;
  double queue_ms = 0;      // arrival to start of inference (the slowest sample)
  double inference_ms = 0;  // start of inference to images (the slowest sample)
  double total_ms = 0;
  std::optional<failure> error;
  std::string message;  // human-readable, set with error
};

// Progress of one order: `step` of `total` denoising steps done (the slowest of its samples),
// and, when one of its images has a new live preview (sample_request::preview_every), the latest
// of each image: small PNGs at the latent's size, "" where none has come yet. Empty when no
// preview is new.
struct order_progress {
  int step = 0;
  int total = 0;
  std::vector<std::string> previews;
};
using progress_callback = std::function<void(const order_progress&)>;
using outcome_callback = std::function<void(generate_outcome)>;

}  // namespace muse::actors
