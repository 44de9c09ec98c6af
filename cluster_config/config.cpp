#include "cluster_config/config.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "cluster_config/json_text.hpp"
#include "cluster_config/object_reader.hpp"
#include "cluster_config/problems.hpp"
#include "cluster_config/schema.hpp"

namespace muse::config {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Relative paths are meant relative to the file that names them, not to wherever the process
// happens to start.
std::string resolve(const std::string& path, const fs::path& base) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (base / path).lexically_normal().string();
}

void resolve_paths(detail::problem_list& problems, deployment_config& config) {
  if (config.source_path.empty()) return;
  fs::path base = fs::absolute(fs::path(config.source_path)).parent_path();
  for (auto& model : config.models) {
    model.path = resolve(model.path, base);
    model.config_dir = resolve(model.config_dir, base);
    model.lora_dir = resolve(model.lora_dir, base);
  }
  if (!config.cluster.tls) return;
  auto& tls = *config.cluster.tls;
  for (auto [key, field] : {std::pair<const char*, std::string*>{"certificate", &tls.certificate},
                            {"private_key", &tls.private_key},
                            {"ca_file", &tls.ca_file}}) {
    if (field->empty()) continue;
    *field = resolve(*field, base);
    std::error_code error;
    if (!fs::is_regular_file(*field, error))
      problems.add(std::string("cluster.tls.") + key, "no such file: " + *field);
  }
}

// 7.3 read into a float would print as 7.300000190734863; show it as the file wrote it.
double float_as_written(float value) { return std::stod(detail::format_number(value)); }

}  // namespace

std::string derived_model_name(const model_config& model) {
  if (model.type == "benchmark_zero_compute") return "zero-compute";
  std::string path = model.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string name = fs::path(path).filename().string();
  const std::string suffix = ".safetensors";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    name.resize(name.size() - suffix.size());
  return name.empty() ? "default" : name;
}

const model_config* deployment_config::find_model(const std::string& name) const {
  for (const auto& model : models)
    if (model.name == name) return &model;
  return nullptr;
}

std::vector<std::string> deployment_config::model_names() const {
  std::vector<std::string> names;
  for (const auto& model : models) names.push_back(model.name);
  return names;
}

deployment_config parse_config(const std::string& text, const std::string& source_path) {
  detail::problem_list problems;
  json document = detail::parse_json_with_comments(text, source_path, problems);
  deployment_config config;
  config.source_path = source_path;
  if (!document.is_object()) {
    problems.add(
        source_path.empty() ? "<config>" : source_path,
        "must be a JSON object { \"gateway\": ..., ... }, got " + detail::describe(document));
    problems.raise();
  }
  detail::read_deployment(problems, document, config);
  resolve_paths(problems, config);
  if (!problems.empty()) problems.raise();
  return config;
}

deployment_config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path, "cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(path, "cannot read the config file");
  return parse_config(text.str(), path);
}

nlohmann::json to_json(const deployment_config& config) {
  json nodes = json::array();
  for (const auto& node : config.gpu_nodes)
    nodes.push_back({{"name", node.name},
                     {"host", node.host},
                     {"port", node.port},
                     {"devices", node.devices},
                     {"slots_per_device", node.slots_per_device}});
  json gateways = json::array();
  for (const auto& peer : config.gateways)
    gateways.push_back({{"name", peer.name},
                        {"host", peer.host},
                        {"http_port", peer.http_port},
                        {"cluster_port", peer.cluster_port}});
  json tls = nullptr;
  if (config.cluster.tls)
    tls = {{"certificate", config.cluster.tls->certificate},
           {"private_key", config.cluster.tls->private_key},
           {"ca_file", config.cluster.tls->ca_file}};
  const auto& g = config.gateway;
  json models = json::array();
  for (const auto& m : config.models)
    models.push_back({{"name", m.name},
                      {"path", m.path},
                      {"config_dir", m.config_dir},
                      {"type", m.type},
                      {"dtype", m.dtype},
                      {"scheduler", m.scheduler},
                      {"fast_steps", m.fast_steps},
                      {"quality_steps", m.quality_steps},
                      {"guidance_scale", float_as_written(m.guidance_scale)},
                      {"width", m.width},
                      {"height", m.height},
                      {"max_images_per_request", m.max_images_per_request},
                      {"intra_op_threads", m.intra_op_threads},
                      {"cuda_graphs", m.cuda.graphs},
                      {"memory_budget_mb", m.memory_budget_mb},
                      {"lora_dir", m.lora_dir},
                      {"lora_cache_mb", m.lora_cache_mb},
                      {"min_workers", m.min_workers},
                      {"max_workers", m.max_workers}});
  if (config.models.size() == 1) models = models.front();
  const auto& b = config.batching;
  const auto& a = config.autoscale;
  return {
      {"gateway",
       {{"host", g.host},
        {"http_port", g.http_port},
        {"cluster_port", g.cluster_port},
        {"http_threads", g.http_threads},
        {"max_body_bytes", g.max_body_bytes},
        {"request_timeout_s", g.request_timeout_s},
        {"job_timeout_s", g.job_timeout_s},
        {"max_prompt_chars", g.max_prompt_chars},
        {"max_connections", g.max_connections},
        {"max_connections_per_client", g.max_connections_per_client},
        {"read_timeout_s", g.read_timeout_s},
        {"public_url", g.public_url},
        {"job_retention_s", g.job_retention_s},
        {"max_jobs", g.max_jobs},
        {"image_url_ttl_s", g.image_url_ttl_s},
        {"max_init_image_bytes", g.max_init_image_bytes},
        {"rate_limit_per_s", g.rate_limit_per_s},
        {"rate_limit_burst", g.rate_limit_burst},
        {"png_parameters", g.png_parameters},
        {"webhook_hosts", g.webhook_hosts},
        {"webhook_secret_env", g.webhook_secret_env},
        {"webhook_retries", g.webhook_retries},
        {"webhook_backoff_s", g.webhook_backoff_s}}},
      {"gateways", gateways},
      {"gpu_nodes", nodes},
      {config.models.size() == 1 ? "model" : "models", models},
      {"batching",
       {{"max_batch_size", b.max_batch_size},
        {"max_wait_ms", b.max_wait_ms},
        {"max_queue", b.max_queue},
        {"step_level", b.step_level}}},
      {"balancer", {{"policy", config.balancer.policy}}},
      {"autoscale",
       {{"interval_s", a.interval_s},
        {"min_workers", a.min_workers},
        {"max_workers", a.max_workers},
        {"target_utilisation", a.target_utilisation},
        {"scale_down_after", a.scale_down_after},
        {"policy", a.policy},
        {"scale_up_check_s", a.scale_up_check_s},
        {"backlog_s", a.backlog_s}}},
      {"cluster",
       {{"tls", tls},
        {"heartbeat_ms", config.cluster.heartbeat_ms},
        {"node_timeout_ms", config.cluster.node_timeout_ms}}},
      {"auth",
       {{"api_keys_env", config.auth.api_keys_env}, {"cors_origins", config.auth.cors_origins}}},
      {"slack",
       {{"signing_secret_env", config.slack.signing_secret_env},
        {"bot_token_env", config.slack.bot_token_env},
        {"api_base", config.slack.api_base},
        {"post_mode", config.slack.post_mode}}},
  };
}

}  // namespace muse::config
