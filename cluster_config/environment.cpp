// What a valid config still asks of the machine a process starts on: secrets in the environment and
// the model's files on disk.

#include <cstdlib>
#include <filesystem>

#include "cluster_config/config.hpp"
#include "cluster_config/problems.hpp"
#include "cluster_config/schema.hpp"

namespace muse::config {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& text) {
  const char* space = " \t\r\n";
  size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

bool is_directory(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool is_file(const std::string& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

bool has_model_index(const std::string& dir) { return is_file(dir + "/model_index.json"); }

// model.path, model.config_dir and model.lora_dir name what model/'s loader will read: a diffusers
// folder, or a .safetensors file with the folder of its configs; the folder of LoRA files.
void check_model_files(detail::problem_list& problems, const model_config& model,
                       const std::string& at) {
  if (model.type != "diffusion") return;  // benchmark_zero_compute reads no files
  if (!model.lora_dir.empty() && !is_directory(model.lora_dir))
    problems.add(at + ".lora_dir", "no such folder: " + model.lora_dir);
  if (!model.config_dir.empty() && !has_model_index(model.config_dir))
    problems.add(at + ".config_dir", is_directory(model.config_dir)
                                         ? model.config_dir + " holds no model_index.json"
                                         : "no such folder: " + model.config_dir);
  if (detail::is_single_file(model.path)) {
    if (!is_file(model.path)) {
      problems.add(at + ".path", "no such file: " + model.path);
    } else if (model.config_dir.empty()) {
      const std::string dir = fs::path(model.path).parent_path().string();
      if (!has_model_index(dir))
        problems.add(at + ".path", "the folder of " + model.path +
                                       " holds no model_index.json; name the folder of the "
                                       "checkpoint's diffusers configs in model.config_dir");
    }
  } else if (!is_directory(model.path)) {
    problems.add(at + ".path",
                 (fs::exists(model.path) ? "neither a folder nor a .safetensors file: "
                                         : "no such folder or file: ") +
                     model.path);
  } else if (!has_model_index(model.path)) {
    problems.add(at + ".path", model.path +
                                   " holds no model_index.json: not a diffusers-layout model "
                                   "(nor a .safetensors file)");
  }
}

// The comma-separated, trimmed, non-empty keys of an auth.api_keys_env variable's value.
std::vector<std::string> keys_in(const std::string& list) {
  std::vector<std::string> keys;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string key = trim(list.substr(start, comma - start));
    if (!key.empty()) keys.push_back(key);
    start = comma + 1;
  }
  return keys;
}

std::string no_key(const auth_config& auth) {
  return "names " + auth.api_keys_env + ", which is unset or holds no key";
}

}  // namespace

std::optional<std::string> secret_from_env(const std::string& env_name) {
  if (env_name.empty()) return std::nullopt;
  const char* value = std::getenv(env_name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::vector<std::string> api_keys_from_env(const auth_config& auth) {
  std::vector<std::string> keys = keys_in(secret_from_env(auth.api_keys_env).value_or(""));
  if (keys.empty() && !auth.api_keys_env.empty())
    throw config_error("auth.api_keys_env", no_key(auth));
  return keys;
}

void check_environment(const deployment_config& config, const process_needs& needs) {
  detail::problem_list problems;
  if (needs.loads_model)
    for (size_t i = 0; i < config.models.size(); ++i)
      check_model_files(problems, config.models[i], detail::model_key_path(config, i));
  if (needs.serves_http && !config.auth.api_keys_env.empty() &&
      keys_in(secret_from_env(config.auth.api_keys_env).value_or("")).empty())
    problems.add("auth.api_keys_env", no_key(config.auth));
  // Webhooks are signed: with hosts allowed and no secret, every job naming one would be refused.
  const auto& gateway = config.gateway;
  if (needs.serves_http && !gateway.webhook_hosts.empty() &&
      secret_from_env(gateway.webhook_secret_env).value_or("").empty())
    problems.add("gateway.webhook_secret_env",
                 gateway.webhook_secret_env.empty()
                     ? "must name the variable holding the webhooks' signing secret when "
                       "gateway.webhook_hosts lists hosts"
                     : "names " + gateway.webhook_secret_env +
                           ", which is unset or empty; gateway.webhook_hosts lists hosts, and "
                           "webhooks are signed with it");
  if (!problems.empty()) problems.raise();
}

}  // namespace muse::config
