#pragma once
// Reading a diffusers-layout directory: JSON files and the weights of one component.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace muse::model {

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// Parses a JSON file; throws model_error naming the file.
nlohmann::json read_json_file(const std::string& path);
// The .safetensors files of a component directory: a sharded index (*.safetensors.index.json),
// else model.safetensors / diffusion_pytorch_model.safetensors, else the only *.safetensors there.
std::vector<std::string> component_weight_files(const std::string& dir);

// Typed config lookups that name the key on error.
int64_t json_int(const nlohmann::json& json, const std::string& key, int64_t fallback);
double json_double(const nlohmann::json& json, const std::string& key, double fallback);
bool json_bool(const nlohmann::json& json, const std::string& key, bool fallback);
std::string json_string(const nlohmann::json& json, const std::string& key,
                        const std::string& fallback);

}  // namespace muse::model
