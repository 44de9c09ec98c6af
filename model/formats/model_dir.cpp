#include "model/formats/model_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "model/generator.hpp"

namespace muse::model {

namespace fs = std::filesystem;

bool path_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw model_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str(), nullptr, true, true);
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path + ": " + e.what());
  }
}

std::vector<std::string> component_weight_files(const std::string& dir) {
  if (!is_directory(dir)) throw model_error("component directory " + dir + " does not exist");
  std::vector<std::string> indexes, files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    auto ends_with = [&](const std::string& tail) {
      return name.size() >= tail.size() &&
             name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    if (ends_with(".safetensors.index.json"))
      indexes.push_back(name);
    else if (ends_with(".safetensors"))
      files.push_back(name);
  }
  for (const auto& preferred :
       {"model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json"}) {
    if (std::find(indexes.begin(), indexes.end(), preferred) == indexes.end()) continue;
    const auto index = read_json_file(dir + "/" + preferred);
    if (!index.contains("weight_map") || !index.at("weight_map").is_object())
      throw model_error(dir + "/" + preferred + ": no weight_map object");
    std::set<std::string> shards;
    for (const auto& [key, file] : index.at("weight_map").items())
      shards.insert(file.get<std::string>());
    std::vector<std::string> paths;
    for (const auto& shard : shards) paths.push_back(dir + "/" + shard);
    return paths;
  }
  for (const auto& preferred : {"model.safetensors", "diffusion_pytorch_model.safetensors"})
    if (std::find(files.begin(), files.end(), preferred) != files.end())
      return {dir + "/" + preferred};
  if (files.size() == 1) return {dir + "/" + files.front()};
  if (files.empty())
    throw model_error(dir + ": no .safetensors weights (only safetensors are loaded)");
  throw model_error(dir + ": several .safetensors files and no index saying which to use");
}

namespace {

const nlohmann::json* find_key(const nlohmann::json& json, const std::string& key) {
  if (!json.is_object()) return nullptr;
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

int64_t json_int(const nlohmann::json& json, const std::string& key, int64_t fallback) {
  const auto* value = find_key(json, key);
  if (!value) return fallback;
  if (!value->is_number_integer()) throw model_error("config key '" + key + "' must be an integer");
  return value->get<int64_t>();
}

double json_double(const nlohmann::json& json, const std::string& key, double fallback) {
  const auto* value = find_key(json, key);
  if (!value) return fallback;
  if (!value->is_number()) throw model_error("config key '" + key + "' must be a number");
  return value->get<double>();
}

bool json_bool(const nlohmann::json& json, const std::string& key, bool fallback) {
  const auto* value = find_key(json, key);
  if (!value) return fallback;
  if (!value->is_boolean()) throw model_error("config key '" + key + "' must be true or false");
  return value->get<bool>();
}

std::string json_string(const nlohmann::json& json, const std::string& key,
                        const std::string& fallback) {
  const auto* value = find_key(json, key);
  if (!value) return fallback;
  if (!value->is_string()) throw model_error("config key '" + key + "' must be a string");
  return value->get<std::string>();
}

}  // namespace muse::model
