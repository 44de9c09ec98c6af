// Euler (diffusers' EulerDiscreteScheduler), Karras sigmas included.
#include "model/sampling/samplers.hpp"
#include "model/sampling/sigma_scheduler.hpp"

namespace muse::model::sampling {

namespace {

class euler_scheduler : public sigma_scheduler {
 public:
  euler_scheduler(const config_reader& r, int n) : sigma_scheduler(r, n, true) {}

  torch::Tensor step(const torch::Tensor& out, const torch::Tensor& sample,
                     at::Generator*) override {
    const double sigma = sigmas_.at(static_cast<size_t>(step_index_));
    const double next = sigmas_.at(static_cast<size_t>(step_index_) + 1);
    denoised_ = predicted_x0(out, sample, sigma);
    auto derivative = (sample - denoised_) / sigma;
    ++step_index_;
    return sample + derivative * (next - sigma);
  }
};

}  // namespace

std::unique_ptr<scheduler> make_euler(const config_reader& r, int steps) {
  return std::make_unique<euler_scheduler>(r, steps);
}

}  // namespace muse::model::sampling
