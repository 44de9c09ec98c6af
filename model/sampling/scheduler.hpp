#pragma once
// Samplers of diffusers, numerically as diffusers runs them: DDIM (eta 0), Euler, Euler
// ancestral, DPM++ 2M (optionally with Karras sigmas) and PNDM (PLMS steps). One scheduler object
// is ONE sample's run: its own timesteps, step index and history, so a batch can hold samples at
// different timesteps with different step counts.

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace muse::model {

class scheduler {
 public:
  virtual ~scheduler() = default;

  // Model calls this run makes (PNDM makes steps + 1).
  int num_steps() const { return static_cast<int>(timesteps_.size()); }
  int step_index() const { return step_index_; }
  bool finished() const { return step_index_ >= num_steps(); }
  // The timestep the model sees at the current step.
  double timestep() const { return timesteps_.at(static_cast<size_t>(step_index_)); }
  const std::vector<double>& timesteps() const { return timesteps_; }
  // Factor on the initial unit-variance noise.
  double init_noise_sigma() const { return init_noise_sigma_; }

  // diffusers' `order` class attribute: model calls per step in its timesteps. 1 for every
  // sampler here (PNDM's repeated timestep and DPM++'s history are extra calls, not steps).
  int order() const { return 1; }
  // Image to image: the run starts at timesteps()[index] (diffusers' set_begin_index, or for
  // PNDM, which has none, its first step there). Only before the first step.
  void begin_at(int index);
  int begin_index() const { return begin_index_; }
  // diffusers' add_noise at the current timestep: `original` (clean latents) with `noise` mixed
  // in to this step's noise level. float32 in, float32 out.
  virtual torch::Tensor add_noise(const torch::Tensor& original,
                                  const torch::Tensor& noise) const = 0;

  virtual torch::Tensor scale_model_input(const torch::Tensor& sample) const { return sample; }
  // The dtype step noise is drawn in (then widened to float32): diffusers draws it in the model's
  // dtype, and a half-precision draw is not a rounded float32 one.
  void draw_noise_in(torch::Dtype dtype) { noise_dtype_ = dtype; }
  // Advances one step. `noise` is the sample's own generator (CPU), used by ancestral samplers.
  // model_output and sample are float32; so is the result.
  virtual torch::Tensor step(const torch::Tensor& model_output, const torch::Tensor& sample,
                             at::Generator* noise) = 0;
  // The last step's prediction of the clean latents (x0), for previews; undefined before the
  // first step, and for samplers that do not form one (PNDM).
  const torch::Tensor& denoised() const { return denoised_; }

 protected:
  std::vector<double> timesteps_;
  int step_index_ = 0;
  int begin_index_ = 0;
  double init_noise_sigma_ = 1.0;
  torch::Dtype noise_dtype_ = torch::kFloat32;
  torch::Tensor denoised_;
};

// Turns a scheduler_config.json into schedulers by name. The effective config of a sampler is
// what diffusers' `Sampler.from_config(pipe.scheduler.config)` yields: the sampler's defaults,
// overridden by the defaults of the config's own _class_name, overridden by the file's values.
class scheduler_factory {
 public:
  // Throws model_error when the default scheduler cannot run this config.
  scheduler_factory(const nlohmann::json& config, const std::string& default_name);

  // Names accepted by make() (those whose effective config is supported), default first.
  const std::vector<std::string>& names() const { return names_; }
  const std::string& default_name() const { return default_name_; }
  // name "" = default. Throws model_error for unknown names or steps
  // outside 1..num_train_timesteps.
  std::unique_ptr<scheduler> make(const std::string& name, int steps) const;

  // Every name this code implements.
  static const std::vector<std::string>& all_names();
  // The effective config for `name` (exposed for tests).
  static nlohmann::json effective_config(const nlohmann::json& config, const std::string& name);
  // Builds directly from an effective config; throws model_error on unsupported values.
  static std::unique_ptr<scheduler> create(const std::string& name, const nlohmann::json& effective,
                                           int steps);

 private:
  nlohmann::json config_;
  std::string default_name_;
  std::vector<std::string> names_;
  std::vector<std::string> rejected_;  // "name: reason"
};

}  // namespace muse::model
