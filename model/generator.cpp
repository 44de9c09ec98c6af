// generator::generate(), built on start_batch() so every generator (fakes in tests included)
// gets the same run-to-completion behaviour.
#include "model/generator.hpp"

namespace muse::model {

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
