#include "model/sampling/scheduler.hpp"

#include <algorithm>
#include <array>
#include <map>

#include "model/generator.hpp"
#include "model/sampling/samplers.hpp"

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
  const sampling::config_reader r{effective, name};
  const int train_steps = r.integer("num_train_timesteps");
  if (steps < 1 || steps > train_steps)
    throw model_error("scheduler " + name + ": steps must be 1.." + std::to_string(train_steps) +
                      ", got " + std::to_string(steps));
  if (name == "ddim") return sampling::make_ddim(r, steps);
  if (name == "pndm") return sampling::make_pndm(r, steps);
  if (name == "euler") return sampling::make_euler(r, steps);
  if (name == "euler_ancestral") return sampling::make_euler_ancestral(r, steps);
  if (name == "dpmpp_2m" || name == "dpmpp_2m_karras")
    return sampling::make_dpmpp_2m(r, steps, r.flag("use_karras_sigmas"));
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
