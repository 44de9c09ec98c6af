// generator::generate(), built on start_batch() so every generator (fakes in tests included)
// gets the same run-to-completion behaviour; the image-to-image arithmetic of sample_request.
#include "model/generator.hpp"

#include <algorithm>
#include <cmath>

namespace muse::model {

strength_cut cut_by_strength(int steps, double strength) {
  if (!std::isfinite(strength) || strength <= 0 || strength > 1)
    throw model_error("strength must be in (0, 1], got " + std::to_string(strength));
  // Python's min(int(steps * strength), steps): a double product, truncated.
  const int kept = std::min(static_cast<int>(static_cast<double>(steps) * strength), steps);
  if (kept < 1)
    throw model_error("steps x strength must be at least 1 (one denoising step), got " +
                      std::to_string(steps) + " x " + std::to_string(strength));
  strength_cut cut;
  cut.skipped_steps = std::max(steps - kept, 0);
  cut.denoising_steps = steps - cut.skipped_steps;
  return cut;
}

int image_to_image_steps(int steps, double strength) {
  try {
    return cut_by_strength(steps, strength).denoising_steps;
  } catch (const model_error&) {
    return steps;
  }
}

int denoising_steps(const sample_request& r) {
  return r.starts_from_image() ? image_to_image_steps(r.steps, r.strength) : r.steps;
}

void check_image_to_image(const sample_request& r) {
  if (!r.starts_from_image()) {
    if (!r.init_image.pixels.empty()) throw model_error("init image without a width");
    return;
  }
  const auto& image = r.init_image;
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != size_t(image.width) * size_t(image.height) * 3)
    throw model_error("init image of " + std::to_string(image.width) + "x" +
                      std::to_string(image.height) + " must hold width x height x 3 bytes, not " +
                      std::to_string(image.pixels.size()));
  if (image.width != r.width || image.height != r.height)
    throw model_error("init image is " + std::to_string(image.width) + "x" +
                      std::to_string(image.height) + " but the request asks for " +
                      std::to_string(r.width) + "x" + std::to_string(r.height));
  cut_by_strength(r.steps, r.strength);
}

std::vector<rgb_image> generator::generate(const std::vector<sample_request>& batch,
                                           const step_callback& on_step) {
  std::vector<rgb_image> images(batch.size());
  if (batch.empty()) return images;
  auto running = start_batch();
  for (size_t i = 0; i < batch.size(); ++i) running->add(i, batch[i]);
  while (running->size() > 0) {
    for (auto& report : running->step()) {
      const auto index = static_cast<size_t>(report.tag);
      if (report.finished) {
        images[index] = std::move(report.image);
        if (on_step) on_step(index, report.step, report.total_steps);
      } else if (on_step && !on_step(index, report.step, report.total_steps)) {
        running->remove(report.tag);
      }
    }
  }
  return images;
}

}  // namespace muse::model
