#pragma once
// Euler and Euler ancestral (model/sampling/euler*.cpp) share timesteps, sigmas and input scaling.

#include "model/sampling/noise_schedule.hpp"
#include "model/sampling/scheduler.hpp"

namespace muse::model::sampling {

class sigma_scheduler : public scheduler {
 public:
  torch::Tensor scale_model_input(const torch::Tensor& sample) const override {
    const double sigma = sigmas_.at(static_cast<size_t>(step_index_));
    return sample / std::sqrt(sigma * sigma + 1);
  }

  torch::Tensor add_noise(const torch::Tensor& original,
                          const torch::Tensor& noise) const override {
    const auto sigma = static_cast<float>(sigmas_.at(static_cast<size_t>(step_index_)));
    return original + noise * sigma;
  }

 protected:
  sigma_scheduler(const config_reader& r, int n, bool allow_karras);

  // x0 from an epsilon or v prediction at noise level sigma.
  torch::Tensor predicted_x0(const torch::Tensor& out, const torch::Tensor& sample,
                             double sigma) const;

  noise_schedule s_;
  std::vector<double> sigmas_;
};

}  // namespace muse::model::sampling
