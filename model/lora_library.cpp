#include "model/lora_library.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cmath>

namespace muse::model {

lora_targets lora_targets_of(const lora_components& components) {
  lora_targets targets;
  for (const auto& [component, module] : components) {
    auto& modules = targets[component];
    for (const auto& item : module->named_modules("", /*include_self=*/false)) {
      if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(item.value().get()))
        modules[item.key()] = {linear->weight.size(1), linear->weight.size(0), 0};
      else if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(item.value().get()))
        modules[item.key()] = {conv->weight.size(1), conv->weight.size(0), conv->weight.size(2)};
    }
  }
  return targets;
}

std::shared_ptr<const lora_adapter> bind_lora(const lora_file& file, const std::string& name,
                                              const lora_components& components,
                                              torch::Device device, torch::Dtype dtype) {
  auto adapter = std::make_shared<lora_adapter>();
  adapter->name = name;
  for (const auto& [component, modules] : file.components) {
    const auto found = components.find(component);
    if (found == components.end())
      throw model_error("LoRA '" + name + "': this model has no " + component);
    std::map<std::string, const torch::nn::Module*> by_path;
    for (const auto& item : found->second->named_modules("", false))
      by_path[item.key()] = item.value().get();
    for (const auto& [path, update] : modules) {
      const auto module = by_path.find(path);
      if (module == by_path.end())
        throw model_error("LoRA '" + name + "': key '" + update.key + "' matches no module");
      lora_weights w;
      w.down = update.down.to(device, dtype);
      w.up = (update.up * update.scale()).to(device, dtype);
      w.convolution = update.convolution;
      adapter->bytes += static_cast<int64_t>(w.down.nbytes() + w.up.nbytes());
      adapter->modules[module->second] = std::move(w);
    }
  }
  return adapter;
}

void check_lora_uses(const std::vector<lora_use>& uses) {
  if (uses.size() > max_loras_per_sample)
    throw model_error("at most " + std::to_string(max_loras_per_sample) + " LoRAs per image, got " +
                      std::to_string(uses.size()));
  for (const auto& use : uses) {
    if (!is_lora_name(use.name))
      throw model_error("LoRA name '" + use.name +
                        "' is not a file name of the LoRA folder (letters, digits, '.', '_', '-')");
    if (!std::isfinite(use.scale) || std::fabs(use.scale) > max_lora_scale)
      throw model_error("LoRA '" + use.name + "': scale must be within -" +
                        std::to_string(static_cast<int>(max_lora_scale)) + ".." +
                        std::to_string(static_cast<int>(max_lora_scale)) + ", got " +
                        std::to_string(use.scale));
  }
}

lora_library::lora_library(std::string dir, int64_t budget_bytes, lora_components components,
                           torch::Device device, torch::Dtype dtype)
    : dir_(std::move(dir)),
      budget_bytes_(budget_bytes),
      components_(std::move(components)),
      targets_(lora_targets_of(components_)),
      device_(device),
      dtype_(dtype) {}

std::shared_ptr<const lora_adapter> lora_library::get(const std::string& name) {
  check_lora_uses({{name, 1.0}});
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = index_.find(name); found != index_.end()) {
    recent_.splice(recent_.begin(), recent_, found->second);
    return found->second->second;
  }
  if (dir_.empty())
    throw model_error("LoRA '" + name + "': this model has no LoRA folder (model.lora_dir)");
  const auto path = dir_ + "/" + name + ".safetensors";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw model_error("unknown LoRA '" + name + "' (no " + name +
                      ".safetensors in the LoRA folder)");
  std::shared_ptr<const lora_adapter> adapter;
  try {
    adapter = bind_lora(parse_lora(weight_map::open(path), targets_, name), name, components_,
                        device_, dtype_);
  } catch (const model_error&) {
    throw;
  } catch (const std::exception& e) {
    throw model_error("LoRA '" + name + "': " + e.what());
  }
  // One larger than the whole budget serves its requests uncached.
  if (adapter->bytes > budget_bytes_) return adapter;
  recent_.emplace_front(name, adapter);
  index_[name] = recent_.begin();
  bytes_ += adapter->bytes;
  while (bytes_ > budget_bytes_) {
    bytes_ -= recent_.back().second->bytes;
    index_.erase(recent_.back().first);
    recent_.pop_back();
  }
  return adapter;
}

std::vector<std::string> lora_library::cached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, adapter] : recent_) names.push_back(name);
  return names;
}

int64_t lora_library::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

}  // namespace muse::model
