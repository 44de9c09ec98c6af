// PNDM as Stable Diffusion ships it (diffusers' PNDMScheduler with skip_prk_steps): PLMS steps.
#include <algorithm>
#include <cmath>
#include <deque>

#include "model/sampling/samplers.hpp"

namespace muse::model::sampling {

namespace {

class pndm_scheduler : public scheduler {
 public:
  pndm_scheduler(const config_reader& r, int n) : s_(r) {
    if (!r.flag("skip_prk_steps")) unsupported(r.name, "skip_prk_steps", false);
    final_alpha_ = r.flag("set_alpha_to_one") ? 1.0 : s_.alphas_cumprod[0];
    ratio_ = s_.train_steps / n;
    auto t = discrete_timesteps(s_, n);  // descending
    std::reverse(t.begin(), t.end());
    // PLMS warm-up: the second-to-last training-order timestep is visited twice.
    std::vector<double> plms(t.begin(), t.end() - 1);
    if (t.size() >= 2) plms.push_back(t[t.size() - 2]);
    plms.push_back(t.back());
    std::reverse(plms.begin(), plms.end());
    timesteps_ = plms;
  }

  torch::Tensor add_noise(const torch::Tensor& original,
                          const torch::Tensor& noise) const override {
    return noise_to_timestep(s_, static_cast<int>(timestep()), original, noise);
  }

  torch::Tensor step(const torch::Tensor& out_in, const torch::Tensor& sample_in,
                     at::Generator*) override {
    int t = static_cast<int>(timestep());
    int prev = t - ratio_;
    torch::Tensor out = out_in, sample = sample_in;
    if (counter_ != 1) {
      while (ets_.size() > 3) ets_.pop_front();
      ets_.push_back(out_in);
    } else {
      prev = t;
      t = t + ratio_;
    }
    if (ets_.size() == 1 && counter_ == 0) {
      cur_sample_ = sample_in;
    } else if (ets_.size() == 1 && counter_ == 1) {
      out = (out_in + ets_.back()) / 2;
      sample = cur_sample_;
      cur_sample_ = torch::Tensor();
    } else if (ets_.size() == 2) {
      out = (3 * ets_[1] - ets_[0]) / 2;
    } else if (ets_.size() == 3) {
      out = (23 * ets_[2] - 16 * ets_[1] + 5 * ets_[0]) / 12;
    } else {
      out = (1.0 / 24) * (55 * ets_[3] - 59 * ets_[2] + 37 * ets_[1] - 9 * ets_[0]);
    }
    ++counter_;
    ++step_index_;
    return previous_sample(sample, t, prev, out);
  }

 private:
  torch::Tensor previous_sample(const torch::Tensor& sample, int t, int prev,
                                torch::Tensor out) const {
    const double a = s_.alphas_cumprod.at(static_cast<size_t>(t));
    const double a_prev =
        prev >= 0 ? s_.alphas_cumprod.at(static_cast<size_t>(prev)) : final_alpha_;
    const double b = 1 - a, b_prev = 1 - a_prev;
    if (s_.prediction_type == "v_prediction") out = std::sqrt(a) * out + std::sqrt(b) * sample;
    const double sample_coeff = std::sqrt(a_prev / a);
    const double denom = a * std::sqrt(b_prev) + std::sqrt(a * b * a_prev);
    return sample_coeff * sample - (a_prev - a) * out / denom;
  }

  noise_schedule s_;
  double final_alpha_ = 1.0;
  int ratio_ = 1;
  int counter_ = 0;
  std::deque<torch::Tensor> ets_;
  torch::Tensor cur_sample_;
};

}  // namespace

std::unique_ptr<scheduler> make_pndm(const config_reader& r, int steps) {
  return std::make_unique<pndm_scheduler>(r, steps);
}

}  // namespace muse::model::sampling
