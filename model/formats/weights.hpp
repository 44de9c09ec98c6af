#pragma once
// Reading .safetensors files and filling torch modules from them. Modules in model/ name their
// parameters exactly as the diffusers/transformers state dicts do
// ("down_blocks.0.resnets.0.conv1.weight"), so loading is a walk over named_parameters() with no
// per-model key table.

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace muse::model {

// The tensors of one or more .safetensors files, memory-mapped: get() returns a CPU tensor that
// views the mapping (no copy); the mapping lives as long as any tensor or the map itself.
class weight_map {
 public:
  static weight_map open(const std::string& path);                     // one file
  static weight_map open_many(const std::vector<std::string>& paths);  // sharded checkpoints

  bool contains(const std::string& name) const;
  torch::Tensor get(const std::string& name) const;  // throws model_error naming a missing key
  std::vector<std::string> names() const;
  // A view of the keys under `prefix` (with the prefix stripped), e.g. "model.diffusion_model.".
  weight_map with_prefix(const std::string& prefix) const;
  // Renames keys (for single-file checkpoints); `rename` returns "" to drop a key.
  weight_map renamed(const std::function<std::string(const std::string&)>& rename) const;
  // The files' safetensors "__metadata__" (string values; a later file's key wins).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A map holding given tensors (tests, converted checkpoints).
  static weight_map from_tensors(std::map<std::string, torch::Tensor> tensors,
                                 std::map<std::string, std::string> metadata = {});

 private:
  struct mapping;
  std::map<std::string, torch::Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::shared_ptr<mapping>> mappings_;
};

// Copies every parameter and buffer of `module` from `weights` (converted to the module's dtype and
// device). Throws model_error listing missing keys, shape mismatches and (if strict) unused keys.
void load_module(torch::nn::Module& module, const weight_map& weights, bool strict = true);

// "float32" | "float16" | "bfloat16" -> dtype; throws model_error otherwise.
torch::Dtype parse_dtype(const std::string& name);
// "cpu" | "cuda" | "cuda:N" -> device; throws model_error otherwise (or if CUDA is absent).
torch::Device parse_device(const std::string& name);

}  // namespace muse::model
