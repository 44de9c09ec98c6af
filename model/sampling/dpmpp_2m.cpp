// DPM++ 2M (diffusers' DPMSolverMultistepScheduler, dpmsolver++ midpoint), Karras sigmas or not.
#include <cmath>
#include <utility>

#include "model/sampling/samplers.hpp"

namespace muse::model::sampling {

namespace {

class dpmpp_2m_scheduler : public scheduler {
 public:
  dpmpp_2m_scheduler(const config_reader& r, int n, bool karras) : s_(r) {
    r.require("algorithm_type", "dpmsolver++");
    r.require("solver_type", "midpoint");
    r.require("use_exponential_sigmas", false);
    r.require("use_beta_sigmas", false);
    r.require("use_lu_lambdas", false);
    r.require("use_flow_sigmas", false);
    r.require("variance_type", nullptr);
    order_ = r.integer("solver_order");
    if (order_ != 1 && order_ != 2) unsupported(r.name, "solver_order", order_);
    lower_order_final_ = r.flag("lower_order_final");
    euler_at_final_ = r.flag("euler_at_final");
    const int last_timestep = s_.train_steps;
    std::vector<double> t;
    if (s_.spacing == "linspace") {
      auto v = linspace(0, last_timestep - 1, n + 1);
      for (int i = n; i >= 1; --i) t.push_back(round_half_even(v[static_cast<size_t>(i)]));
    } else if (s_.spacing == "leading") {
      const int ratio = last_timestep / (n + 1);
      for (int i = n; i >= 1; --i) t.push_back(static_cast<double>(i * ratio + s_.steps_offset));
    } else {
      t = trailing_timesteps(last_timestep, static_cast<double>(s_.train_steps) / n);
    }
    const auto train = s_.train_sigmas();
    std::vector<double> sigmas;
    if (karras) {
      const auto log_sigmas = log_of(train);
      sigmas = karras_sigmas(r.optional_number("sigma_min").value_or(train.front()),
                             r.optional_number("sigma_max").value_or(train.back()), n);
      t.clear();
      for (double sigma : sigmas) t.push_back(round_half_even(sigma_to_t(sigma, log_sigmas)));
    } else {
      for (double v : t) sigmas.push_back(interp(v, train));
    }
    final_zero_ = r.text("final_sigmas_type") == "zero";
    if (final_zero_)
      sigmas.push_back(0);
    else if (r.text("final_sigmas_type") == "sigma_min")
      sigmas.push_back(train.front());
    else
      unsupported(r.name, "final_sigmas_type", r.at("final_sigmas_type"));
    for (auto& sigma : sigmas) sigma = round_f32(sigma);
    sigmas_ = sigmas;
    timesteps_ = t;
  }

  torch::Tensor add_noise(const torch::Tensor& original,
                          const torch::Tensor& noise) const override {
    // _sigma_to_alpha_sigma_t on a float32 sigma, one float32 operation at a time.
    const auto sigma = static_cast<float>(sigmas_.at(static_cast<size_t>(step_index_)));
    const float alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f);
    return alpha * original + (sigma * alpha) * noise;
  }

  torch::Tensor step(const torch::Tensor& out, const torch::Tensor& sample,
                     at::Generator*) override {
    const int i = step_index_;
    const int n = num_steps();
    const bool lower_final =
        i == n - 1 && (euler_at_final_ || (lower_order_final_ && n < 15) || final_zero_);
    const double sigma = sigmas_.at(static_cast<size_t>(i));
    const auto [alpha_s, sigma_s] = alpha_sigma(sigma);
    auto x0 = s_.prediction_type == "epsilon" ? (sample - sigma_s * out) / alpha_s
                                              : alpha_s * sample - sigma_s * out;
    previous_x0_ = latest_x0_;
    latest_x0_ = x0;
    denoised_ = x0;
    torch::Tensor result;
    const auto [alpha_t, sigma_t] = alpha_sigma(sigmas_.at(static_cast<size_t>(i) + 1));
    const double lambda_t = std::log(alpha_t) - std::log(sigma_t);
    const double lambda_s0 = std::log(alpha_s) - std::log(sigma_s);
    const double h = lambda_t - lambda_s0;
    if (order_ == 1 || lower_order_nums_ < 1 || lower_final) {
      result = (sigma_t / sigma_s) * sample - (alpha_t * (std::exp(-h) - 1.0)) * x0;
    } else {
      const auto [alpha_s1, sigma_s1] = alpha_sigma(sigmas_.at(static_cast<size_t>(i) - 1));
      const double lambda_s1 = std::log(alpha_s1) - std::log(sigma_s1);
      const double r0 = (lambda_s0 - lambda_s1) / h;
      auto d1 = (1.0 / r0) * (x0 - previous_x0_);
      result = (sigma_t / sigma_s) * sample - (alpha_t * (std::exp(-h) - 1.0)) * x0 -
               (0.5 * (alpha_t * (std::exp(-h) - 1.0))) * d1;
    }
    if (lower_order_nums_ < order_) ++lower_order_nums_;
    ++step_index_;
    return result;
  }

 private:
  static std::pair<double, double> alpha_sigma(double sigma) {
    const double alpha = 1.0 / std::sqrt(sigma * sigma + 1);
    return {alpha, sigma * alpha};
  }

  noise_schedule s_;
  std::vector<double> sigmas_;
  int order_ = 2;
  bool lower_order_final_ = true, euler_at_final_ = false, final_zero_ = true;
  int lower_order_nums_ = 0;
  torch::Tensor latest_x0_, previous_x0_;
};

}  // namespace

std::unique_ptr<scheduler> make_dpmpp_2m(const config_reader& r, int steps, bool karras) {
  return std::make_unique<dpmpp_2m_scheduler>(r, steps, karras);
}

}  // namespace muse::model::sampling
