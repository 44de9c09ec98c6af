#include "model/scheduler.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <map>

#include "model/generator.hpp"

namespace muse::model {

namespace {

using json = nlohmann::json;

struct sampler_kind {
  std::string name;
  std::string class_name;
};

// The diffusers class behind each of scheduler_names (settings.hpp), in the same order.
constexpr std::array<const char*, scheduler_names.size()> diffusers_classes = {
    "DDIMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler",
    "PNDMScheduler",
};

constexpr bool every_name_has_a_class() {
  for (const char* name : diffusers_classes)
    if (name == nullptr) return false;
  return true;
}
static_assert(every_name_has_a_class(), "a scheduler of scheduler_names has no diffusers class");

const std::vector<sampler_kind>& kinds() {
  static const std::vector<sampler_kind> list = [] {
    std::vector<sampler_kind> out;
    for (size_t i = 0; i < scheduler_names.size(); ++i)
      out.push_back({scheduler_names[i], diffusers_classes[i]});
    return out;
  }();
  return list;
}

// The constructor defaults of each diffusers class (only the keys this code reads or checks).
const json& class_defaults(const std::string& class_name) {
  static const std::map<std::string, json> defaults = [] {
    const json common = {{"num_train_timesteps", 1000},
                         {"beta_start", 0.0001},
                         {"beta_end", 0.02},
                         {"beta_schedule", "linear"},
                         {"trained_betas", nullptr},
                         {"prediction_type", "epsilon"},
                         {"steps_offset", 0},
                         {"rescale_betas_zero_snr", false}};
    std::map<std::string, json> out;
    auto with = [&](json extra) {
      json merged = common;
      merged.update(extra);
      return merged;
    };
    out["DDIMScheduler"] = with({{"clip_sample", true},
                                 {"clip_sample_range", 1.0},
                                 {"set_alpha_to_one", true},
                                 {"thresholding", false},
                                 {"timestep_spacing", "leading"}});
    out["PNDMScheduler"] = with(
        {{"skip_prk_steps", false}, {"set_alpha_to_one", false}, {"timestep_spacing", "leading"}});
    out["EulerDiscreteScheduler"] = with({{"interpolation_type", "linear"},
                                          {"use_karras_sigmas", false},
                                          {"use_exponential_sigmas", false},
                                          {"use_beta_sigmas", false},
                                          {"sigma_min", nullptr},
                                          {"sigma_max", nullptr},
                                          {"timestep_spacing", "linspace"},
                                          {"timestep_type", "discrete"},
                                          {"final_sigmas_type", "zero"}});
    out["EulerAncestralDiscreteScheduler"] = with({{"timestep_spacing", "linspace"}});
    out["DPMSolverMultistepScheduler"] = with({{"solver_order", 2},
                                               {"thresholding", false},
                                               {"algorithm_type", "dpmsolver++"},
                                               {"solver_type", "midpoint"},
                                               {"lower_order_final", true},
                                               {"euler_at_final", false},
                                               {"use_karras_sigmas", false},
                                               {"use_exponential_sigmas", false},
                                               {"use_beta_sigmas", false},
                                               {"use_lu_lambdas", false},
                                               {"use_flow_sigmas", false},
                                               {"sigma_min", nullptr},
                                               {"sigma_max", nullptr},
                                               {"final_sigmas_type", "zero"},
                                               {"variance_type", nullptr},
                                               {"timestep_spacing", "linspace"}});
    return out;
  }();
  static const json empty = json::object();
  auto it = defaults.find(class_name);
  return it == defaults.end() ? empty : it->second;
}

const sampler_kind& kind_of(const std::string& name) {
  for (const auto& kind : kinds())
    if (kind.name == name) return kind;
  std::string known;
  for (const auto& kind : kinds()) known += (known.empty() ? "" : ", ") + kind.name;
  throw model_error("unknown scheduler '" + name + "' (known: " + known + ")");
}

[[noreturn]] void unsupported(const std::string& name, const std::string& key, const json& value) {
  throw model_error("scheduler " + name + ": unsupported " + key + " = " + value.dump());
}

// The config values, read with a check that each has the expected type.
struct reader {
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

  noise_schedule(const reader& r) {
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

  // sqrt((1 - a) / a) per training timestep, rounded to float32 as diffusers' numpy copy is.
  std::vector<double> train_sigmas() const {
    std::vector<double> out;
    for (double a : alphas_cumprod) out.push_back(static_cast<float>(std::sqrt((1.0 - a) / a)));
    return out;
  }
};

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

// x0 from an epsilon or v prediction at a DDPM timestep.
class ddim_scheduler : public scheduler {
 public:
  ddim_scheduler(const reader& r, int n) : s_(r) {
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

class pndm_scheduler : public scheduler {
 public:
  pndm_scheduler(const reader& r, int n) : s_(r) {
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

// Euler and Euler ancestral share timesteps, sigmas and input scaling.
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
  sigma_scheduler(const reader& r, int n, bool allow_karras) : s_(r) {
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

  torch::Tensor predicted_x0(const torch::Tensor& out, const torch::Tensor& sample,
                             double sigma) const {
    if (s_.prediction_type == "epsilon") return sample - sigma * out;
    return out * (-sigma / std::sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1);
  }

  noise_schedule s_;
  std::vector<double> sigmas_;
};

class euler_scheduler : public sigma_scheduler {
 public:
  euler_scheduler(const reader& r, int n) : sigma_scheduler(r, n, true) {}

  torch::Tensor step(const torch::Tensor& out, const torch::Tensor& sample,
                     at::Generator*) override {
    const double sigma = sigmas_.at(static_cast<size_t>(step_index_));
    const double next = sigmas_.at(static_cast<size_t>(step_index_) + 1);
    auto derivative = (sample - predicted_x0(out, sample, sigma)) / sigma;
    ++step_index_;
    return sample + derivative * (next - sigma);
  }
};

class euler_ancestral_scheduler : public sigma_scheduler {
 public:
  euler_ancestral_scheduler(const reader& r, int n) : sigma_scheduler(r, n, false) {}

  torch::Tensor step(const torch::Tensor& out, const torch::Tensor& sample,
                     at::Generator* noise) override {
    const double sigma = sigmas_.at(static_cast<size_t>(step_index_));
    const double next = sigmas_.at(static_cast<size_t>(step_index_) + 1);
    const double sigma_up =
        std::sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma));
    const double sigma_down = std::sqrt(next * next - sigma_up * sigma_up);
    auto derivative = (sample - predicted_x0(out, sample, sigma)) / sigma;
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

class dpmpp_2m_scheduler : public scheduler {
 public:
  dpmpp_2m_scheduler(const reader& r, int n, bool karras) : s_(r) {
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

void scheduler::begin_at(int index) {
  if (step_index_ != begin_index_)
    throw model_error("a scheduler's first timestep is set before its first step");
  if (index < 0 || index >= num_steps())
    throw model_error("begin index " + std::to_string(index) + " outside the " +
                      std::to_string(num_steps()) + " timesteps");
  begin_index_ = step_index_ = index;
}

const std::vector<std::string>& scheduler_factory::all_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& kind : kinds()) out.push_back(kind.name);
    return out;
  }();
  return names;
}

json scheduler_factory::effective_config(const json& config, const std::string& name) {
  const auto& kind = kind_of(name);
  json effective = class_defaults(kind.class_name);
  const std::string source = config.is_object() ? config.value("_class_name", "") : "";
  for (const auto& [key, value] : class_defaults(source).items())
    if (effective.contains(key)) effective[key] = value;
  if (config.is_object())
    for (const auto& [key, value] : config.items())
      if (effective.contains(key)) effective[key] = value;
  // "pndm" is PNDM as Stable Diffusion ships it (skip_prk_steps): PLMS steps, no PRK warm-up.
  if (name == "pndm") effective["skip_prk_steps"] = true;
  if (name == "dpmpp_2m") effective["use_karras_sigmas"] = false;
  if (name == "dpmpp_2m_karras") effective["use_karras_sigmas"] = true;
  return effective;
}

std::unique_ptr<scheduler> scheduler_factory::create(const std::string& name, const json& effective,
                                                     int steps) {
  const reader r{effective, name};
  const int train_steps = r.integer("num_train_timesteps");
  if (steps < 1 || steps > train_steps)
    throw model_error("scheduler " + name + ": steps must be 1.." + std::to_string(train_steps) +
                      ", got " + std::to_string(steps));
  if (name == "ddim") return std::make_unique<ddim_scheduler>(r, steps);
  if (name == "pndm") return std::make_unique<pndm_scheduler>(r, steps);
  if (name == "euler") return std::make_unique<euler_scheduler>(r, steps);
  if (name == "euler_ancestral") return std::make_unique<euler_ancestral_scheduler>(r, steps);
  if (name == "dpmpp_2m" || name == "dpmpp_2m_karras")
    return std::make_unique<dpmpp_2m_scheduler>(r, steps, r.flag("use_karras_sigmas"));
  kind_of(name);
  throw model_error("unknown scheduler '" + name + "'");
}

scheduler_factory::scheduler_factory(const json& config, const std::string& default_name)
    : config_(config), default_name_(default_name) {
  kind_of(default_name);
  create(default_name, effective_config(config, default_name), 10);
  names_.push_back(default_name);
  for (const auto& name : all_names()) {
    if (name == default_name) continue;
    try {
      create(name, effective_config(config, name), 10);
      names_.push_back(name);
    } catch (const model_error& e) {
      rejected_.push_back(e.what());
    }
  }
}

std::unique_ptr<scheduler> scheduler_factory::make(const std::string& name, int steps) const {
  const auto& chosen = name.empty() ? default_name_ : name;
  if (std::find(names_.begin(), names_.end(), chosen) == names_.end()) {
    kind_of(chosen);
    for (const auto& reason : rejected_)
      if (reason.find("scheduler " + chosen + ":") == 0) throw model_error(reason);
    throw model_error("scheduler '" + chosen + "' is not available for this model");
  }
  return create(chosen, effective_config(config_, chosen), steps);
}

}  // namespace muse::model
