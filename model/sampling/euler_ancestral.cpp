// Euler ancestral (diffusers' EulerAncestralDiscreteScheduler): noise from the sample's own
// generator at every step.
#include <cmath>

#include "model/sampling/samplers.hpp"
#include "model/sampling/sigma_scheduler.hpp"

namespace muse::model::sampling {

namespace {

class euler_ancestral_scheduler : public sigma_scheduler {
 public:
  euler_ancestral_scheduler(const config_reader& r, int n) : sigma_scheduler(r, n, false) {}

  torch::Tensor step(const torch::Tensor& out, const torch::Tensor& sample,
                     at::Generator* noise) override {
    const double sigma = sigmas_.at(static_cast<size_t>(step_index_));
    const double next = sigmas_.at(static_cast<size_t>(step_index_) + 1);
    const double sigma_up =
        std::sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma));
    const double sigma_down = std::sqrt(next * next - sigma_up * sigma_up);
    denoised_ = predicted_x0(out, sample, sigma);
    auto derivative = (sample - denoised_) / sigma;
    auto prev = sample + derivative * (sigma_down - sigma);
    // Drawn on the CPU from the sample's own generator, then moved: diffusers' randn_tensor.
    c10::optional<at::Generator> gen;
    if (noise) gen = *noise;
    auto eps = torch::randn(out.sizes(), gen, torch::TensorOptions().dtype(noise_dtype_))
                   .to(out.device(), torch::kFloat32);
    ++step_index_;
    return prev + eps * sigma_up;
  }
};

}  // namespace

std::unique_ptr<scheduler> make_euler_ancestral(const config_reader& r, int steps) {
  return std::make_unique<euler_ancestral_scheduler>(r, steps);
}

}  // namespace muse::model::sampling
