#include "actors/model_conversion.hpp"

namespace muse::actors {

// A field added on one side only would be dropped here without a word: make it a build error.
static_assert(sizeof(sample_request) == sizeof(model::sample_request),
              "sample_request and model::sample_request differ: convert the new field");
static_assert(sizeof(model_limits) == sizeof(model::model_limits),
              "model_limits and model::model_limits differ: convert the new field");

model::sample_request to_model(const sample_request& request) {
  model::sample_request out;
  out.prompt = request.prompt;
  out.negative_prompt = request.negative_prompt;
  out.steps = request.steps;
  out.guidance_scale = request.guidance_scale;
  out.seed = request.seed;
  out.width = request.width;
  out.height = request.height;
  out.scheduler = request.scheduler;
  out.init_image.width = request.init_image.width;
  out.init_image.height = request.init_image.height;
  out.init_image.pixels = request.init_image.pixels;
  out.strength = request.strength;
  out.original_width = request.original_width;
  out.original_height = request.original_height;
  out.crop_top = request.crop_top;
  out.crop_left = request.crop_left;
  for (const auto& lora : request.loras) out.loras.push_back({lora.name, lora.scale});
  out.preview_every = request.preview_every;
  return out;
}

model_limits from_model(const model::model_limits& limits) {
  model_limits out;
  out.min_size = limits.min_size;
  out.max_size = limits.max_size;
  out.size_multiple = limits.size_multiple;
  out.default_width = limits.default_width;
  out.default_height = limits.default_height;
  out.max_pixels = limits.max_pixels;
  out.memory_budget_mb = limits.memory_budget_mb;
  out.max_steps = limits.max_steps;
  out.schedulers = limits.schedulers;
  return out;
}

}  // namespace muse::actors
