// DDIM (diffusers' DDIMScheduler) with eta 0.
#include <cmath>

#include "model/sampling/samplers.hpp"

namespace muse::model::sampling {

namespace {

class ddim_scheduler : public scheduler {
 public:
  ddim_scheduler(const config_reader& r, int n) : s_(r) {
    clip_ = r.flag("clip_sample");
    clip_range_ = r.number("clip_sample_range");
    final_alpha_ = r.flag("set_alpha_to_one") ? 1.0 : s_.alphas_cumprod[0];
    ratio_ = s_.train_steps / n;
    timesteps_ = discrete_timesteps(s_, n);
  }

  torch::Tensor add_noise(const torch::Tensor& original,
                          const torch::Tensor& noise) const override {
    return noise_to_timestep(s_, static_cast<int>(timestep()), original, noise);
  }

  torch::Tensor step(const torch::Tensor& out, const torch::Tensor& sample,
                     at::Generator*) override {
    const int t = static_cast<int>(timestep());
    const int prev = t - ratio_;
    const double a = s_.alphas_cumprod.at(static_cast<size_t>(t));
    const double a_prev =
        prev >= 0 ? s_.alphas_cumprod.at(static_cast<size_t>(prev)) : final_alpha_;
    const double b = 1 - a;
    torch::Tensor x0, eps;
    if (s_.prediction_type == "epsilon") {
      x0 = (sample - std::sqrt(b) * out) / std::sqrt(a);
      eps = out;
    } else {
      x0 = std::sqrt(a) * sample - std::sqrt(b) * out;
      eps = std::sqrt(a) * out + std::sqrt(b) * sample;
    }
    if (clip_) x0 = x0.clamp(-clip_range_, clip_range_);
    denoised_ = x0;
    ++step_index_;
    return std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev) * eps;
  }

 private:
  noise_schedule s_;
  bool clip_ = false;
  double clip_range_ = 1.0;
  double final_alpha_ = 1.0;
  int ratio_ = 1;
};

}  // namespace

std::unique_ptr<scheduler> make_ddim(const config_reader& r, int steps) {
  return std::make_unique<ddim_scheduler>(r, steps);
}

}  // namespace muse::model::sampling
