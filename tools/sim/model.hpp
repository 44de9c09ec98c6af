#pragma once
// What the simulator assumes of the hardware and the load: the service time of one batch by its
// size (from measured GPU figures) and the arrival rate over time (a trace).

#include <string>
#include <utility>
#include <vector>

namespace muse::sim {

// Seconds one worker spends on a batch of a given size, linear between measured sizes and
// extrapolated from the last two beyond them.
class service_model {
 public:
  // {batch size, seconds}, sizes ascending and distinct, at least two.
  explicit service_model(std::vector<std::pair<int, double>> points);
  // SD1.5, 512x512, 25 DDIM steps, fp16 on one H200: docs/benchmarks.md, "The C++ pipeline
  // against diffusers + torch.compile on a GPU", muse's row as measured today (5.48 / 8.29 / 8.90
  // / 9.07 images/s at batch 1 / 4 / 8 / 16, so 0.182 / 0.483 / 0.899 / 1.764 s per batch).
  static service_model h200_sd15_fast();

  double seconds(int batch) const;
  // Images per busy second of a worker that always runs full batches of `batch`.
  double images_per_s(int batch) const { return batch / seconds(batch); }

 private:
  std::vector<std::pair<int, double>> points_;
};

// Requests (one image each) per second at time t, for t in [0, duration_s).
struct trace {
  std::string name;
  double duration_s = 0;
  double peak_per_s = 0;
  double rate(double t) const;

  // constant: peak all along. diurnal: a day of duration_s from night (peak / 10) to peak at
  // its middle and back, a raised cosine. flash: 30 min at peak / 10, up to peak within 60 s,
  // 30 min there, back within 60 s, 30 min more. steps: 20 min each at 0.1, 0.4, 0.7, 1.0, 0.55
  // and 0.1 of peak, changing at once.
  static trace make(const std::string& name, double peak_per_s, double day_s = 86400);
  static const std::vector<std::string>& names();
};

}  // namespace muse::sim
