#pragma once
// What the samplers share (internal to model/sampling/): a sampler's effective config read with
// type checks, the training noise schedule, and numpy's timestep arithmetic as diffusers runs it.

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/generator.hpp"

namespace muse::model::sampling {

using json = nlohmann::json;

// Throws model_error naming the sampler, the key and the value it cannot run.
[[noreturn]] void unsupported(const std::string& name, const std::string& key, const json& value);

// The config values, read with a check that each has the expected type.
struct config_reader {
  const json& config;
  const std::string& name;

  const json& at(const std::string& key) const {
    auto it = config.find(key);
    if (it == config.end()) throw model_error("scheduler " + name + ": config lacks '" + key + "'");
    return *it;
  }
  double number(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_number()) throw model_error("scheduler " + name + ": '" + key + "' must be a number");
    return v.get<double>();
  }
  int integer(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_number_integer())
      throw model_error("scheduler " + name + ": '" + key + "' must be an integer");
    return v.get<int>();
  }
  bool flag(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_boolean())
      throw model_error("scheduler " + name + ": '" + key + "' must be true or false");
    return v.get<bool>();
  }
  std::string text(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_string()) throw model_error("scheduler " + name + ": '" + key + "' must be a string");
    return v.get<std::string>();
  }
  std::optional<double> optional_number(const std::string& key) const {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::nullopt;
    return number(key);
  }
  void require(const std::string& key, const json& expected) const {
    auto it = config.find(key);
    if (it != config.end() && !it->is_null() && *it != expected) unsupported(name, key, *it);
  }
};

// What every sampler shares: the training noise schedule and the prediction type.
struct noise_schedule {
  int train_steps = 1000;
  std::vector<double> alphas_cumprod;  // float32 values, as diffusers holds them
  std::string prediction_type;
  std::string spacing;
  int steps_offset = 0;

  explicit noise_schedule(const config_reader& r);

  // sqrt((1 - a) / a) per training timestep, rounded to float32 as diffusers' numpy copy is.
  std::vector<double> train_sigmas() const;
};

// diffusers' float32 rounding of a value computed in double.
float round_f32(double x);
// np.linspace(start, stop, n)
std::vector<double> linspace(double start, double stop, int n);
// np.round: half to even.
double round_half_even(double x);
// Trailing spacing, np.round(np.arange(start, 0, -step)) - 1, as numpy computes it: see the
// definition for numpy's count and the -1 it can end with, which is left out.
std::vector<double> trailing_timesteps(double start, double step);
// Leading/trailing/linspace integer timesteps as DDIM and PNDM compute them, descending.
std::vector<double> discrete_timesteps(const noise_schedule& s, int n);
// np.interp(x, arange(len(ys)), ys)
double interp(double x, const std::vector<double>& ys);
// Karras et al.'s sigmas (rho 7), sigma_max down to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n);
// The fractional training timestep whose sigma is `sigma` (log-linear between neighbours).
double sigma_to_t(double sigma, const std::vector<double>& log_sigmas);
// Natural logarithms, each rounded to float32.
std::vector<double> log_of(const std::vector<double>& xs);
// DDPM's add_noise, which DDIM and PNDM copy: sqrt(a) x0 + sqrt(1 - a) noise at training timestep
// t, each factor a float32 operation on the float32 alphas_cumprod, as diffusers computes them.
torch::Tensor noise_to_timestep(const noise_schedule& s, int t, const torch::Tensor& original,
                                const torch::Tensor& noise);

}  // namespace muse::model::sampling
