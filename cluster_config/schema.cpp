#include "cluster_config/schema.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "cluster_config/object_reader.hpp"

namespace muse::config::detail {
namespace {

using json = nlohmann::json;

const std::vector<std::string> model_types = {"diffusion", "benchmark_zero_compute"};
const std::vector<std::string> dtypes = {"float32", "float16", "bfloat16"};
const std::vector<std::string> schedulers(model::scheduler_names.begin(),
                                          model::scheduler_names.end());
const std::vector<std::string> balancer_policies = {"round_robin", "least_loaded"};
const std::vector<std::string> autoscale_policies = {"full_batch", "capacity", "queue_threshold"};
const std::vector<std::string> slack_post_modes = {"response_url", "upload"};

constexpr int64_t max_port = 65535;

// A host as a URL names it: a DNS name or IPv4 address, or an IPv6 address in brackets.
bool is_host_name(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    return std::all_of(host.begin() + 1, host.end() - 1,
                       [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; });
  return !host.empty() && host.size() <= 253 && host.front() != '.' && host.front() != '-' &&
         std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

void read_gateway(problem_list& problems, const json* object, gateway_config& gateway) {
  object_reader r(problems, object, "gateway", "gateway");
  r.string("host", gateway.host);
  r.integer("http_port", gateway.http_port, 0, max_port);
  r.integer("cluster_port", gateway.cluster_port, 1, max_port);
  r.integer("http_threads", gateway.http_threads, 1, 256);
  r.integer("max_body_bytes", gateway.max_body_bytes, 16, int64_t{1} << 30);
  r.integer("request_timeout_s", gateway.request_timeout_s, 1, 86400);
  r.integer("job_timeout_s", gateway.job_timeout_s, 1, 604800);
  r.integer("max_prompt_chars", gateway.max_prompt_chars, 1, 1000000);
  r.integer("max_connections", gateway.max_connections, 1, 1000000);
  r.integer("max_connections_per_client", gateway.max_connections_per_client, 1, 1000000);
  r.integer("read_timeout_s", gateway.read_timeout_s, 1, 3600);
  r.url("public_url", gateway.public_url);
  r.integer("job_retention_s", gateway.job_retention_s, 1, 604800);
  r.integer("max_jobs", gateway.max_jobs, 1, 1000000);
  r.integer("image_url_ttl_s", gateway.image_url_ttl_s, 1, 604800);
  r.integer("max_init_image_bytes", gateway.max_init_image_bytes, 1, int64_t{1} << 30);
  r.number("rate_limit_per_s", gateway.rate_limit_per_s, 0.0, 1e6);
  r.integer("rate_limit_burst", gateway.rate_limit_burst, 1, 1000000);
  r.boolean("png_parameters", gateway.png_parameters);
  if (r.string_list("webhook_hosts", gateway.webhook_hosts))
    for (size_t i = 0; i < gateway.webhook_hosts.size(); ++i)
      if (!is_host_name(gateway.webhook_hosts[i]))
        problems.add(r.path_of("webhook_hosts") + "[" + std::to_string(i) + "]",
                     "must be a host name or address such as \"hooks.example.org\" (no scheme, "
                     "port or path), got \"" +
                         gateway.webhook_hosts[i] + "\"");
  r.env_name("webhook_secret_env", gateway.webhook_secret_env);
  r.integer("webhook_retries", gateway.webhook_retries, 0, 20);
  r.number("webhook_backoff_s", gateway.webhook_backoff_s, 0.01, 600.0);
  r.finish();
}

bool is_device(const std::string& device) {
  if (device == "cpu" || device == "cuda") return true;
  if (device.rfind("cuda:", 0) != 0) return false;
  std::string index = device.substr(5);
  return !index.empty() && index.size() <= 3 &&
         std::all_of(index.begin(), index.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool is_node_name(const std::string& name) {
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

void read_gpu_node(problem_list& problems, const json& object, const std::string& path,
                   gpu_node_config& node) {
  object_reader r(problems, &object, path, "gpu_nodes[]");
  if (r.required("name", "a unique name (muse-node --node NAME selects it)") &&
      r.string("name", node.name) && !is_node_name(node.name))
    problems.add(r.path_of("name"),
                 "may hold only letters, digits, '-', '_' and '.', got \"" + node.name + "\"");
  r.string("host", node.host);
  r.integer("port", node.port, 1, max_port);
  if (r.string_list("devices", node.devices)) {
    std::set<std::string> seen;
    if (node.devices.empty()) problems.add(r.path_of("devices"), "must list at least one device");
    for (size_t i = 0; i < node.devices.size(); ++i) {
      const std::string& device = node.devices[i];
      std::string device_path = r.path_of("devices") + "[" + std::to_string(i) + "]";
      if (!is_device(device)) {
        problems.add(device_path,
                     "must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + device + "\"");
      } else if (!seen.insert(device == "cuda" ? "cuda:0" : device).second && device != "cpu") {
        // "cpu" may repeat: each entry is one more worker slot group on the host's cores.
        problems.add(device_path, "\"" + device + "\" is listed twice");
      }
    }
  }
  r.integer("slots_per_device", node.slots_per_device, 1, 64);
  r.finish();
}

void read_gateway_peer(problem_list& problems, const json& object, const std::string& path,
                       gateway_peer_config& peer) {
  object_reader r(problems, &object, path, "gateways[]");
  if (r.required("name", "a unique name (muse-node --gateway NAME selects it)") &&
      r.string("name", peer.name) && !is_node_name(peer.name))
    problems.add(r.path_of("name"),
                 "may hold only letters, digits, '-', '_' and '.', got \"" + peer.name + "\"");
  r.string("host", peer.host);
  r.integer("http_port", peer.http_port, 0, max_port);
  r.integer("cluster_port", peer.cluster_port, 1, max_port);
  r.finish();
}

// Left out or empty: one gateway. Each entry takes its http_port and cluster_port defaults from
// the gateway section. Returns false when the list could not be read.
bool read_gateway_peers(problem_list& problems, object_reader& root, const gateway_config& gateway,
                        std::vector<gateway_peer_config>& peers) {
  if (!root.present("gateways")) {
    root.array("gateways");
    return true;
  }
  const json* list = root.array("gateways");
  if (list == nullptr) return false;
  bool ok = true;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string path = "gateways[" + std::to_string(i) + "]";
    const json& item = (*list)[i];
    if (!item.is_object()) {
      problems.add(path, "must be an object { \"name\": ..., ... }, got " + describe(item));
      ok = false;
      continue;
    }
    gateway_peer_config peer;
    peer.host = gateway.host;
    peer.http_port = gateway.http_port;
    peer.cluster_port = gateway.cluster_port;
    read_gateway_peer(problems, item, path, peer);
    peers.push_back(peer);
  }
  return ok;
}

// Returns false when the list could not be read (then cross-checks over nodes are skipped).
bool read_gpu_nodes(problem_list& problems, object_reader& root,
                    std::vector<gpu_node_config>& nodes) {
  if (!root.present("gpu_nodes")) {
    root.array("gpu_nodes");
    gpu_node_config local;
    local.name = "local";
    nodes.push_back(local);
    return true;
  }
  const json* list = root.array("gpu_nodes");
  if (list == nullptr) return false;
  if (list->empty()) {
    problems.add("gpu_nodes",
                 "must list at least one node (leave the key out for one local CPU node)");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string path = "gpu_nodes[" + std::to_string(i) + "]";
    const json& item = (*list)[i];
    if (!item.is_object()) {
      problems.add(path, "must be an object { \"name\": ..., ... }, got " + describe(item));
      ok = false;
      continue;
    }
    gpu_node_config node;
    read_gpu_node(problems, item, path, node);
    nodes.push_back(node);
  }
  return ok;
}

void read_model(problem_list& problems, const json* object, const std::string& path,
                const std::string& schema_path, const autoscale_config& autoscale,
                model_config& model) {
  object_reader r(problems, object, path, schema_path);
  r.choice("type", model.type, model_types);
  r.string("path", model.path);
  if (r.string("name", model.name) && !is_node_name(model.name))
    problems.add(r.path_of("name"),
                 "may hold only letters, digits, '-', '_' and '.', got \"" + model.name + "\"");
  if (!r.present("name")) model.name = derived_model_name(model);
  r.string("config_dir", model.config_dir, /*allow_empty=*/true);
  r.choice("dtype", model.dtype, dtypes);
  r.choice("scheduler", model.scheduler, schedulers);
  r.integer("fast_steps", model.fast_steps, 1, 150);
  r.integer("quality_steps", model.quality_steps, 1, 150);
  r.number("guidance_scale", model.guidance_scale, 0.0, 30.0);
  auto read_size = [&](const char* key, int& field) {
    if (r.integer(key, field, 8, 4096) && field % 8 != 0)
      problems.add(r.path_of(key), "must be a multiple of 8, got " + std::to_string(field));
  };
  read_size("width", model.width);
  read_size("height", model.height);
  r.integer("max_images_per_request", model.max_images_per_request, 1, 16);
  r.integer("intra_op_threads", model.intra_op_threads, 0, 256);
  r.boolean("cuda_graphs", model.cuda.graphs);
  r.integer("memory_budget_mb", model.memory_budget_mb, 0, 16 << 20);
  r.string("lora_dir", model.lora_dir, /*allow_empty=*/true);
  r.integer("lora_cache_mb", model.lora_cache_mb, 0, 16 << 20);
  model.min_workers = autoscale.min_workers;
  model.max_workers = autoscale.max_workers;
  r.integer("min_workers", model.min_workers, 0, 1024);
  r.integer("max_workers", model.max_workers, 1, 1024);
  if (model.min_workers > model.max_workers)
    problems.add(r.path_of("min_workers"), "must not exceed max_workers (" +
                                               std::to_string(model.min_workers) + " > " +
                                               std::to_string(model.max_workers) + ")");
  r.finish();
}

// The `model` section (one model) or the `models` list, never both; neither: the default model.
void read_models(problem_list& problems, object_reader& root, const autoscale_config& autoscale,
                 std::vector<model_config>& models) {
  models.clear();
  if (root.present("model") && root.present("models")) {
    problems.add("models", "give either `model` (one model) or `models` (a list), not both");
    root.raw("model");
  }
  if (!root.present("models")) {
    root.array("models");
    models.emplace_back();
    read_model(problems, root.object("model"), "model", "model", autoscale, models.back());
    return;
  }
  const json* list = root.array("models");
  if (list == nullptr) {
    models.emplace_back();
    return;
  }
  if (list->empty()) {
    problems.add("models", "must list at least one model (or give a `model` section)");
    models.emplace_back();
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string path = "models[" + std::to_string(i) + "]";
    const json& item = (*list)[i];
    models.emplace_back();
    if (!item.is_object()) {
      problems.add(
          path, "must be an object { \"name\": ..., \"path\": ..., ... }, got " + describe(item));
      continue;
    }
    read_model(problems, &item, path, "model", autoscale, models.back());
    if (!names.insert(models.back().name).second)
      problems.add(path + ".name", "\"" + models.back().name +
                                       "\" names another model too: give each a unique name");
  }
}

void read_batching(problem_list& problems, const json* object, batching_config& batching) {
  object_reader r(problems, object, "batching", "batching");
  r.integer("max_batch_size", batching.max_batch_size, 1, 256);
  r.integer("max_wait_ms", batching.max_wait_ms, 0, 60000);
  r.integer("max_queue", batching.max_queue, 1, 1000000);
  r.boolean("step_level", batching.step_level);
  r.finish();
}

void read_balancer(problem_list& problems, const json* object, balancer_config& balancer) {
  object_reader r(problems, object, "balancer", "balancer");
  r.choice("policy", balancer.policy, balancer_policies);
  r.finish();
}

void read_autoscale(problem_list& problems, const json* object, autoscale_config& autoscale) {
  object_reader r(problems, object, "autoscale", "autoscale");
  r.integer("interval_s", autoscale.interval_s, 1, 3600);
  r.integer("min_workers", autoscale.min_workers, 1, 1024);
  r.integer("max_workers", autoscale.max_workers, 1, 1024);
  r.number("target_utilisation", autoscale.target_utilisation, 0.05, 1.0);
  r.integer("scale_down_after", autoscale.scale_down_after, 1, 100);
  r.choice("policy", autoscale.policy, autoscale_policies);
  r.integer("scale_up_check_s", autoscale.scale_up_check_s, 1, 3600);
  r.number("backlog_s", autoscale.backlog_s, 1, 3600);
  r.finish();
}

void read_cluster(problem_list& problems, const json* object, cluster_config& cluster) {
  object_reader r(problems, object, "cluster", "cluster");
  const json* tls = r.raw("tls");
  if (tls != nullptr && !tls->is_null()) {
    if (!tls->is_object()) {
      problems.add(r.path_of("tls"),
                   "must be null (no TLS) or an object with certificate, private_key and ca_file, "
                   "got " +
                       describe(*tls));
    } else {
      object_reader t(problems, tls, r.path_of("tls"), "cluster.tls");
      tls_config files;
      auto read_file = [&](const char* key, std::string& field) {
        if (t.required(key, "a PEM file path when TLS is on")) t.string(key, field);
      };
      read_file("certificate", files.certificate);
      read_file("private_key", files.private_key);
      read_file("ca_file", files.ca_file);
      t.finish();
      cluster.tls = files;
    }
  }
  r.integer("heartbeat_ms", cluster.heartbeat_ms, 10, 60000);
  r.integer("node_timeout_ms", cluster.node_timeout_ms, 20, 600000);
  r.finish();
}

void read_auth(problem_list& problems, const json* object, auth_config& auth) {
  object_reader r(problems, object, "auth", "auth");
  r.env_name("api_keys_env", auth.api_keys_env);
  if (r.string_list("cors_origins", auth.cors_origins)) {
    for (size_t i = 0; i < auth.cors_origins.size(); ++i) {
      const std::string& origin = auth.cors_origins[i];
      if (origin != "*" && origin.rfind("http://", 0) != 0 && origin.rfind("https://", 0) != 0)
        problems.add(
            r.path_of("cors_origins") + "[" + std::to_string(i) + "]",
            "must be \"*\" or an origin such as \"https://example.org\", got \"" + origin + "\"");
    }
  }
  r.finish();
}

void read_slack(problem_list& problems, const json* object, slack_config& slack) {
  object_reader r(problems, object, "slack", "slack");
  r.env_name("signing_secret_env", slack.signing_secret_env);
  r.env_name("bot_token_env", slack.bot_token_env);
  r.url("api_base", slack.api_base);
  r.choice("post_mode", slack.post_mode, slack_post_modes);
  r.finish();
}

}  // namespace

void read_deployment(problem_list& problems, const json& document, deployment_config& config) {
  object_reader root(problems, &document, "", "");
  read_gateway(problems, root.object("gateway"), config.gateway);
  bool nodes_readable = read_gpu_nodes(problems, root, config.gpu_nodes);
  nodes_readable =
      read_gateway_peers(problems, root, config.gateway, config.gateways) && nodes_readable;
  read_batching(problems, root.object("batching"), config.batching);
  read_balancer(problems, root.object("balancer"), config.balancer);
  read_autoscale(problems, root.object("autoscale"), config.autoscale);
  read_models(problems, root, config.autoscale, config.models);
  read_cluster(problems, root.object("cluster"), config.cluster);
  read_auth(problems, root.object("auth"), config.auth);
  read_slack(problems, root.object("slack"), config.slack);
  root.finish();
  problems.report_unknown_keys();
  check_cross_field_rules(problems, config, nodes_readable);
}

}  // namespace muse::config::detail
