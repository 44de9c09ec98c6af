#include "model/sampling/sigma_scheduler.hpp"

#include <algorithm>
#include <cmath>

namespace muse::model::sampling {

sigma_scheduler::sigma_scheduler(const config_reader& r, int n, bool allow_karras) : s_(r) {
  std::vector<double> t;
  if (s_.spacing == "linspace") {
    for (double v : linspace(0, s_.train_steps - 1, n)) t.push_back(round_f32(v));
    std::reverse(t.begin(), t.end());
  } else {
    t = discrete_timesteps(s_, n);
  }
  const auto train = s_.train_sigmas();
  std::vector<double> sigmas;
  for (double v : t) sigmas.push_back(interp(v, train));
  double last = 0;
  if (allow_karras) {
    r.require("interpolation_type", "linear");
    r.require("timestep_type", "discrete");
    r.require("use_exponential_sigmas", false);
    r.require("use_beta_sigmas", false);
    if (r.flag("use_karras_sigmas")) {
      const auto log_sigmas = log_of(train);
      sigmas = karras_sigmas(r.optional_number("sigma_min").value_or(sigmas.back()),
                             r.optional_number("sigma_max").value_or(sigmas.front()), n);
      t.clear();
      for (double sigma : sigmas) t.push_back(round_f32(sigma_to_t(sigma, log_sigmas)));
    }
    const auto final_type = r.text("final_sigmas_type");
    if (final_type == "sigma_min")
      last = std::sqrt((1 - s_.alphas_cumprod[0]) / s_.alphas_cumprod[0]);
    else if (final_type != "zero")
      unsupported(r.name, "final_sigmas_type", final_type);
  }
  sigmas.push_back(last);
  for (auto& sigma : sigmas) sigma = round_f32(sigma);
  sigmas_ = sigmas;
  timesteps_ = t;
  const double max_sigma = *std::max_element(sigmas_.begin(), sigmas_.end());
  init_noise_sigma_ = (s_.spacing == "linspace" || s_.spacing == "trailing")
                          ? max_sigma
                          : static_cast<double>(round_f32(std::sqrt(max_sigma * max_sigma + 1)));
}

torch::Tensor sigma_scheduler::predicted_x0(const torch::Tensor& out, const torch::Tensor& sample,
                                            double sigma) const {
  if (s_.prediction_type == "epsilon") return sample - sigma * out;
  return out * (-sigma / std::sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1);
}

}  // namespace muse::model::sampling
