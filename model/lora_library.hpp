#pragma once
// LoRAs by name: files NAME.safetensors in the model's LoRA folder (model_settings::lora_dir),
// read (formats/lora_file.hpp), bound to the loaded model's modules in its dtype and device
// (networks/lora.hpp) and kept in memory by a least-recently-used cache with a byte budget.

#include <torch/torch.h>

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/formats/lora_file.hpp"
#include "model/generator.hpp"
#include "model/networks/lora.hpp"
#include "model/settings.hpp"

namespace muse::model {

// The components a LoRA may adapt, by their diffusers names ("unet", "text_encoder",
// "text_encoder_2").
using lora_components = std::map<std::string, torch::nn::Module*>;

// Every Linear and Conv2d of the components, by module path, with its shape.
lora_targets lora_targets_of(const lora_components& components);

// `file`'s updates on the components' modules, in `dtype` on `device`, alpha / rank folded into
// the up matrices.
std::shared_ptr<const lora_adapter> bind_lora(const lora_file& file, const std::string& name,
                                              const lora_components& components,
                                              torch::Device device, torch::Dtype dtype);

// Throws model_error naming what is wrong with a request's LoRA: a name that is not a plain file
// name (is_lora_name), a scale that is not finite or beyond max_lora_scale; or with the request's
// list (more than max_loras_per_sample). The limits are in settings.hpp, which the gateway reads.
void check_lora_uses(const std::vector<lora_use>& uses);

class lora_library {
 public:
  // dir "": every LoRA is refused. budget_bytes: what the cache may hold.
  lora_library(std::string dir, int64_t budget_bytes, lora_components components,
               torch::Device device, torch::Dtype dtype);

  // The LoRA `name`, from the cache or read from dir/name.safetensors. Throws model_error for a
  // bad or unknown name, or a file that does not fit the model.
  std::shared_ptr<const lora_adapter> get(const std::string& name);

  // The cached LoRAs, most recently used first, and their bytes.
  std::vector<std::string> cached() const;
  int64_t cached_bytes() const;

 private:
  using entry = std::pair<std::string, std::shared_ptr<const lora_adapter>>;

  std::string dir_;
  int64_t budget_bytes_;
  lora_components components_;
  lora_targets targets_;
  torch::Device device_;
  torch::Dtype dtype_;
  mutable std::mutex mutex_;
  std::list<entry> recent_;  // most recent first
  std::map<std::string, std::list<entry>::iterator> index_;
  int64_t bytes_ = 0;
};

}  // namespace muse::model
