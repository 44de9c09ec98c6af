#include <map>

#include "cluster_config/schema.hpp"

namespace muse::config::detail {
namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "*";
}

// Whether a node's host:port may be a socket the gateway itself opens on this machine.
bool may_be_gateway_host(const std::string& node_host, const std::string& gateway_host) {
  if (node_host == gateway_host) return true;
  return is_loopback(node_host) && (is_loopback(gateway_host) || is_wildcard(gateway_host));
}

void check_nodes(problem_list& problems, const deployment_config& config) {
  std::map<std::string, size_t> names;
  std::map<std::string, size_t> endpoints;
  for (size_t i = 0; i < config.gpu_nodes.size(); ++i) {
    const auto& node = config.gpu_nodes[i];
    std::string path = "gpu_nodes[" + std::to_string(i) + "]";
    if (!node.name.empty()) {
      auto [it, fresh] = names.emplace(node.name, i);
      if (!fresh)
        problems.add(path + ".name", "\"" + node.name + "\" is already the name of gpu_nodes[" +
                                         std::to_string(it->second) + "]");
    }
    std::string endpoint = node.host + ":" + std::to_string(node.port);
    auto [it, fresh] = endpoints.emplace(endpoint, i);
    if (!fresh)
      problems.add(path + ".port",
                   endpoint + " is already used by gpu_nodes[" + std::to_string(it->second) + "]");
    if (may_be_gateway_host(node.host, config.gateway.host)) {
      if (node.port == config.gateway.cluster_port)
        problems.add(path + ".port",
                     std::to_string(node.port) + " is also gateway.cluster_port on the same host");
      else if (node.port == config.gateway.http_port)
        problems.add(path + ".port",
                     std::to_string(node.port) + " is also gateway.http_port on the same host");
    }
  }
}

// Names unique; no two gateways, nor a gateway and a node, on one host:port.
void check_gateway_peers(problem_list& problems, const deployment_config& config) {
  std::map<std::string, size_t> names;
  std::map<std::string, std::string> endpoints;
  for (size_t i = 0; i < config.gpu_nodes.size(); ++i)
    endpoints.emplace(config.gpu_nodes[i].host + ":" + std::to_string(config.gpu_nodes[i].port),
                      "gpu_nodes[" + std::to_string(i) + "]");
  for (size_t i = 0; i < config.gateways.size(); ++i) {
    const auto& peer = config.gateways[i];
    std::string path = "gateways[" + std::to_string(i) + "]";
    if (!peer.name.empty()) {
      auto [it, fresh] = names.emplace(peer.name, i);
      if (!fresh)
        problems.add(path + ".name", "\"" + peer.name + "\" is already the name of gateways[" +
                                         std::to_string(it->second) + "]");
    }
    if (peer.http_port != 0 && peer.http_port == peer.cluster_port)
      problems.add(path + ".cluster_port",
                   "must differ from its http_port (both " + std::to_string(peer.http_port) + ")");
    std::string endpoint = peer.host + ":" + std::to_string(peer.cluster_port);
    auto [it, fresh] = endpoints.emplace(endpoint, path);
    if (!fresh)
      problems.add(path + ".cluster_port", endpoint + " is already used by " + it->second);
  }
}

}  // namespace

bool is_single_file(const std::string& model_path) {
  const std::string suffix = ".safetensors";
  return model_path.size() > suffix.size() &&
         model_path.compare(model_path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string model_key_path(const deployment_config& config, size_t i) {
  return config.models.size() == 1 ? "model" : "models[" + std::to_string(i) + "]";
}

void check_cross_field_rules(problem_list& problems, const deployment_config& config,
                             bool nodes_readable) {
  const auto& gateway = config.gateway;
  if (gateway.http_port != 0 && gateway.http_port == gateway.cluster_port)
    problems.add("gateway.cluster_port", "must differ from gateway.http_port (both " +
                                             std::to_string(gateway.http_port) + ")");
  if (nodes_readable) check_nodes(problems, config);
  if (nodes_readable) check_gateway_peers(problems, config);

  const auto& autoscale = config.autoscale;
  if (autoscale.min_workers > autoscale.max_workers)
    problems.add("autoscale.min_workers", "must not exceed autoscale.max_workers (" +
                                              std::to_string(autoscale.min_workers) + " > " +
                                              std::to_string(autoscale.max_workers) + ")");
  if (nodes_readable) {
    int64_t slots = 0;
    for (const auto& node : config.gpu_nodes)
      slots += static_cast<int64_t>(node.devices.size()) * node.slots_per_device;
    int64_t kept = 0;
    for (const auto& model : config.models) kept += model.min_workers;
    const bool one = config.models.size() == 1;
    if (kept > slots)
      problems.add(one ? "autoscale.min_workers" : "models",
                   std::to_string(kept) + " workers" +
                       (one ? "" : " (min_workers, summed over the models)") +
                       " need more slots than gpu_nodes offer (" + std::to_string(slots) +
                       " = devices x slots_per_device, summed)");
  }

  const auto& cluster = config.cluster;
  if (cluster.node_timeout_ms < 2 * cluster.heartbeat_ms)
    problems.add("cluster.node_timeout_ms", "must be at least twice cluster.heartbeat_ms (" +
                                                std::to_string(cluster.heartbeat_ms) +
                                                "), so that one late heartbeat does "
                                                "not declare a node dead");

  for (size_t i = 0; i < config.models.size(); ++i) {
    const auto& model = config.models[i];
    if (!model.config_dir.empty() && !is_single_file(model.path))
      problems.add(model_key_path(config, i) + ".config_dir",
                   "applies to a single-file model.path (.safetensors) only; a diffusers folder "
                   "holds its own configs");
  }

  if (config.slack.post_mode == "upload" && config.slack.bot_token_env.empty())
    problems.add("slack.bot_token_env",
                 "required when slack.post_mode is \"upload\" (uploading "
                 "a file needs a bot token)");
}

}  // namespace muse::config::detail
