// The benchmark-only model stage: no weights, no arithmetic. It keeps the generator contract
// (validation, one report per sample per step(), images of the asked size) so the actors and
// HTTP layers do exactly the work they do for a real model.
#include <utility>
#include <vector>

#include "model/generator.hpp"

namespace muse::model {

namespace {

const model_limits zero_compute_limits = [] {
  model_limits limits;
  limits.min_size = 8;
  limits.max_size = 1024;
  limits.size_multiple = 8;
  limits.default_width = 64;
  limits.default_height = 64;
  limits.max_steps = 150;
  limits.schedulers = {"ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "pndm"};
  return limits;
}();

void check_request(const sample_request& request) {
  const auto& l = zero_compute_limits;
  auto bad_size = [&](int v) {
    return v < l.min_size || v > l.max_size || v % l.size_multiple != 0;
  };
  if (bad_size(request.width) || bad_size(request.height))
    throw model_error("size must be multiples of 8 within 8..1024");
  if (request.steps < 1 || request.steps > l.max_steps) throw model_error("steps must be 1..150");
  check_image_to_image(request);
}

class zero_compute_batch : public running_batch {
 public:
  void add(uint64_t tag, const sample_request& request) override {
    check_request(request);
    pending_.push_back({tag, request});
  }
  void remove(uint64_t tag) override {
    for (auto it = pending_.begin(); it != pending_.end(); ++it)
      if (it->first == tag) {
        pending_.erase(it);
        return;
      }
  }
  size_t size() const override { return pending_.size(); }
  std::vector<step_report> step() override {
    std::vector<step_report> reports;
    reports.reserve(pending_.size());
    for (const auto& [tag, request] : pending_) {
      step_report report;
      report.tag = tag;
      report.step = report.total_steps = request.steps;
      report.finished = true;
      report.image.width = request.width;
      report.image.height = request.height;
      report.image.pixels.assign(static_cast<size_t>(request.width) * request.height * 3, 0);
      reports.push_back(std::move(report));
    }
    pending_.clear();
    return reports;
  }

 private:
  std::vector<std::pair<uint64_t, sample_request>> pending_;
};

class zero_compute_generator : public generator {
 public:
  std::string name() const override { return "benchmark-zero-compute"; }
  model_limits limits() const override { return zero_compute_limits; }
  std::unique_ptr<running_batch> start_batch() override {
    return std::make_unique<zero_compute_batch>();
  }
};

}  // namespace

std::unique_ptr<generator> make_zero_compute_generator() {
  return std::make_unique<zero_compute_generator>();
}

}  // namespace muse::model
