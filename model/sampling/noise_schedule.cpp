#include "model/sampling/noise_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "model/generator.hpp"

namespace muse::model::sampling {

[[noreturn]] void unsupported(const std::string& name, const std::string& key, const json& value) {
  throw model_error("scheduler " + name + ": unsupported " + key + " = " + value.dump());
}

noise_schedule::noise_schedule(const config_reader& r) {
  train_steps = r.integer("num_train_timesteps");
  if (train_steps < 1 || train_steps > 100000)
    unsupported(r.name, "num_train_timesteps", r.at("num_train_timesteps"));
  torch::Tensor betas;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto& trained = r.at("trained_betas");
  if (!trained.is_null()) {
    auto values = trained.get<std::vector<double>>();
    if (static_cast<int>(values.size()) != train_steps)
      throw model_error("scheduler " + r.name +
                        ": trained_betas must hold num_train_timesteps values");
    betas = torch::tensor(std::vector<float>(values.begin(), values.end()), f32);
  } else {
    const auto schedule = r.text("beta_schedule");
    const double start = r.number("beta_start"), end = r.number("beta_end");
    if (schedule == "linear") {
      betas = torch::linspace(start, end, train_steps, f32);
    } else if (schedule == "scaled_linear") {
      betas = torch::linspace(std::sqrt(start), std::sqrt(end), train_steps, f32).pow(2);
    } else if (schedule == "squaredcos_cap_v2") {
      auto alpha_bar = [](double t) {
        return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2);
      };
      std::vector<float> values;
      for (int i = 0; i < train_steps; ++i) {
        const double t1 = static_cast<double>(i) / train_steps,
                     t2 = static_cast<double>(i + 1) / train_steps;
        values.push_back(static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999)));
      }
      betas = torch::tensor(values, f32);
    } else {
      unsupported(r.name, "beta_schedule", r.at("beta_schedule"));
    }
  }
  auto cumprod = torch::cumprod(1.0 - betas, 0).contiguous();
  alphas_cumprod.assign(cumprod.data_ptr<float>(), cumprod.data_ptr<float>() + train_steps);
  prediction_type = r.text("prediction_type");
  if (prediction_type != "epsilon" && prediction_type != "v_prediction")
    unsupported(r.name, "prediction_type", r.at("prediction_type"));
  spacing = r.text("timestep_spacing");
  if (spacing != "leading" && spacing != "trailing" && spacing != "linspace")
    unsupported(r.name, "timestep_spacing", r.at("timestep_spacing"));
  steps_offset = r.integer("steps_offset");
  r.require("rescale_betas_zero_snr", false);
  r.require("thresholding", false);
}

std::vector<double> noise_schedule::train_sigmas() const {
  std::vector<double> out;
  for (double a : alphas_cumprod) out.push_back(static_cast<float>(std::sqrt((1.0 - a) / a)));
  return out;
}

float round_f32(double x) { return static_cast<float>(x); }

// np.linspace(start, stop, n)
std::vector<double> linspace(double start, double stop, int n) {
  std::vector<double> out(static_cast<size_t>(n));
  if (n == 1) {
    out[0] = start;
    return out;
  }
  const double step = (stop - start) / (n - 1);
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = start + i * step;
  out.back() = stop;
  return out;
}

// np.round: half to even.
double round_half_even(double x) { return std::nearbyint(x); }

// Trailing spacing, np.round(np.arange(start, 0, -step)) - 1, as numpy computes it:
// ceil(start / step) values, the i-th (i >= 2) start + i * delta with delta = (start - step) -
// start. Summing the step instead gives one more when it does not divide start (1000 / 13 x 13
// lands just above 0). Where numpy's own count is one too many (61, 103, 121, 122 steps of 1000)
// its last timestep is -1, which diffusers looks up as alphas_cumprod[-1]; that one is left out.
std::vector<double> trailing_timesteps(double start, double step) {
  const auto n = static_cast<int64_t>(std::ceil((0 - start) / -step));
  const double delta = (start - step) - start;
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i) {
    const double v = i == 0   ? start
                     : i == 1 ? start - step
                              : start + static_cast<double>(i) * delta;
    if (round_half_even(v) >= 1) out.push_back(round_half_even(v) - 1);
  }
  return out;
}

// Leading/trailing/linspace integer timesteps as DDIM and PNDM compute them, descending.
std::vector<double> discrete_timesteps(const noise_schedule& s, int n) {
  std::vector<double> t;
  if (s.spacing == "linspace") {
    for (double v : linspace(0, s.train_steps - 1, n)) t.push_back(round_half_even(v));
    std::reverse(t.begin(), t.end());
  } else if (s.spacing == "leading") {
    const int ratio = s.train_steps / n;
    for (int i = n - 1; i >= 0; --i) t.push_back(static_cast<double>(i * ratio + s.steps_offset));
  } else {
    t = trailing_timesteps(s.train_steps, static_cast<double>(s.train_steps) / n);
  }
  return t;
}

// np.interp(x, arange(len(ys)), ys)
double interp(double x, const std::vector<double>& ys) {
  if (x <= 0) return ys.front();
  if (x >= static_cast<double>(ys.size() - 1)) return ys.back();
  const auto i = static_cast<size_t>(std::floor(x));
  const double w = x - static_cast<double>(i);
  return ys[i] + (ys[i + 1] - ys[i]) * w;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n) {
  const double rho = 7.0;
  const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  std::vector<double> out;
  for (double ramp : linspace(0, 1, n))
    out.push_back(std::pow(max_inv + ramp * (min_inv - max_inv), rho));
  return out;
}

// The fractional training timestep whose sigma is `sigma` (log-linear between neighbours).
double sigma_to_t(double sigma, const std::vector<double>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  size_t low = 0;
  for (size_t i = 0; i < log_sigmas.size(); ++i)
    if (log_sigma - log_sigmas[i] >= 0) low = i;
  low = std::min(low, log_sigmas.size() - 2);
  const double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

std::vector<double> log_of(const std::vector<double>& xs) {
  std::vector<double> out;
  for (double x : xs) out.push_back(round_f32(std::log(x)));
  return out;
}

// DDPM's add_noise, which DDIM and PNDM copy: sqrt(a) x0 + sqrt(1 - a) noise at training timestep
// t, each factor a float32 operation on the float32 alphas_cumprod, as diffusers computes them.
torch::Tensor noise_to_timestep(const noise_schedule& s, int t, const torch::Tensor& original,
                                const torch::Tensor& noise) {
  const auto a = static_cast<float>(s.alphas_cumprod.at(static_cast<size_t>(t)));
  return std::sqrt(a) * original + std::sqrt(1.0f - a) * noise;
}

}  // namespace muse::model::sampling
