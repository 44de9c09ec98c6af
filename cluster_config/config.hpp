#pragma once
// The deployment config: one file describes gateway, GPU nodes, model, batching, balancer,
// autoscale, cluster, auth and Slack. Every key, default and range is documented in README.md
// beside this file; parse_config() is the only place that knows them.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/settings.hpp"

namespace muse::config {

struct gateway_config {
  std::string host = "127.0.0.1";
  uint16_t http_port = 8080;     // 0 = ephemeral (tests)
  uint16_t cluster_port = 4300;  // CAF middleman port of the gateway
  int http_threads = 2;
  size_t max_body_bytes = 65536;
  int request_timeout_s = 120;  // a synchronous request's deadline (the client waits on it)
  int job_timeout_s = 3600;     // an async job's deadline: nobody holds a connection open
  size_t max_prompt_chars = 1000;
  size_t max_connections = 1024;
  size_t max_connections_per_client = 128;  // from one client address
  int read_timeout_s = 10;  // to read a whole request on a connection with none in progress
  std::string public_url = "http://localhost:8080";
  int job_retention_s = 600;   // finished async jobs are kept this long, then 404
  size_t max_jobs = 1000;      // async jobs kept at once
  int image_url_ttl_s = 3600;  // life of the image URLs handed to OpenAI and Slack clients
  size_t max_init_image_bytes = 4 << 20;  // an image-to-image request's PNG, decoded from base64
  // Requests per second a client (its API key, else its address) may make, as a token bucket
  // holding rate_limit_burst; 0 = no limit.
  double rate_limit_per_s = 0;
  int rate_limit_burst = 20;
  // The PNGs answered carry their generation parameters in A1111's "parameters" text chunk.
  bool png_parameters = true;
  // Hosts an async job's `webhook` URL may name (exact names, any case); none: webhooks refused.
  std::vector<std::string> webhook_hosts;
  // The variable holding the secret webhook deliveries are signed with (HMAC-SHA256).
  std::string webhook_secret_env = "MUSE_WEBHOOK_SECRET";
  // A delivery refused with a 5xx or 429, or not connected, is tried again this many times, after
  // webhook_backoff_s, then twice that, and so on (capped).
  int webhook_retries = 5;
  double webhook_backoff_s = 1;
};

// One gateway of several sharing the GPU nodes' workers (the `gateways` list). Its place in the
// list orders the leadership: the first live one runs the supervisor. Every other gateway key
// comes from the `gateway` section, shared by all.
struct gateway_peer_config {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t http_port = 8080;
  uint16_t cluster_port = 4300;  // where the other gateways reach this one
};

struct gpu_node_config {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 4301;
  std::vector<std::string> devices = {"cpu"};  // "cpu" or "cuda:N"
  int slots_per_device = 1;
};

// One served model. The model's settings (model/settings.hpp: type, path, config_dir, dtype,
// scheduler, intra_op_threads, cuda, memory_budget_mb) travel as they are to the workers and the
// generator; the rest are the defaults and limits the gateway applies to requests. "diffusion"
// serves the pipeline at `path`; "benchmark_zero_compute" answers every sample at once with a blank
// image and no model, to measure the serving stack alone (benchmarks only). Relative paths resolve
// against the config file.
struct model_config : model::model_settings {
  model_config() {
    path = "model/weights/muse-tiny";
    intra_op_threads = 1;
    name = "muse-tiny";
  }
  // How requests name it (`model` field); unique. Left out: the last part of `path` without a
  // `.safetensors` suffix ("muse-tiny"), or "zero-compute" for benchmark_zero_compute.
  std::string name;
  // Workers of this model the supervisor keeps at least / at most (the pool's slots and
  // autoscale.max_workers bound all models together). 0: none while it has no traffic; the
  // first request starts one.
  int min_workers = 1;
  int max_workers = 8;
  int fast_steps = 25;
  int quality_steps = 50;
  float guidance_scale = 7.5f;
  int width = 64;  // default size of a request that names none
  int height = 64;
  int max_images_per_request = 4;
};

struct batching_config {
  int max_batch_size = 8;
  int max_wait_ms = 50;
  int max_queue = 1000;
  bool step_level = true;
};

struct balancer_config {
  std::string policy = "least_loaded";  // round_robin | least_loaded
};

struct autoscale_config {
  int interval_s = 30;
  int min_workers = 1;
  int max_workers = 8;
  double target_utilisation = 0.8;
  int scale_down_after = 2;
  // full_batch | capacity | queue_threshold (the seed's rule); actors/scaling_policy.hpp
  std::string policy = "full_batch";
  int scale_up_check_s = 5;  // full_batch: decides every this many seconds (at most interval_s)
  double backlog_s = 10;     // full_batch: samples waiting are to be served within this
};

struct tls_config {
  std::string certificate;  // PEM paths
  std::string private_key;
  std::string ca_file;
};

struct cluster_config {
  std::optional<tls_config> tls;
  int heartbeat_ms = 1000;
  int node_timeout_ms = 5000;
};

struct auth_config {
  std::string api_keys_env;  // name of the variable holding comma-separated keys; "" = no auth
  std::vector<std::string> cors_origins;
};

struct slack_config {
  std::string signing_secret_env;
  std::string bot_token_env;
  std::string api_base = "https://slack.com/api";
  std::string post_mode = "response_url";  // response_url | upload
};

struct deployment_config {
  gateway_config gateway;
  // Empty: one gateway, the `gateway` section. Else the gateways sharing the pool, in
  // leadership order; muse-node --role=gateway --gateway NAME is one of them.
  std::vector<gateway_peer_config> gateways;
  std::vector<gpu_node_config> gpu_nodes;
  // The served models, at least one; the first is the default of a request that names none. The
  // config's single `model` section is read as this list with one entry.
  std::vector<model_config> models = {model_config{}};
  batching_config batching;
  balancer_config balancer;
  autoscale_config autoscale;
  cluster_config cluster;
  auth_config auth;
  slack_config slack;
  std::string source_path;  // the file it was read from ("" when parsed from a string)

  const model_config& default_model() const { return models.front(); }
  // The model of that name; nullptr when none is.
  const model_config* find_model(const std::string& name) const;
  std::vector<std::string> model_names() const;
};

// A model's name when the config gives none (model_config::name).
std::string derived_model_name(const model_config& model);

// Thrown by the parser; what() is "<key path>: <problem>", e.g. "batching.max_batch_size: must
// be 1..256".
class config_error : public std::runtime_error {
 public:
  config_error(std::string path, const std::string& problem)
      : std::runtime_error(path + ": " + problem), path_(std::move(path)) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Parses JSON-with-comments text; collects every problem and throws one config_error listing them
// all (path() is that of the first).
deployment_config parse_config(const std::string& text, const std::string& source_path = "");
deployment_config load_config_file(const std::string& path);

// The effective config (defaults filled in) as JSON, for --check-config and /api/v1/stats.
nlohmann::json to_json(const deployment_config& config);

// Reads the variable named by env_name; empty optional when the name is empty or the variable
// unset. The only place the code reads a secret from the environment.
std::optional<std::string> secret_from_env(const std::string& env_name);

// The API keys in the variable auth.api_keys_env names (comma-separated, spaces trimmed); none when
// the name is "". Throws config_error at auth.api_keys_env when the variable is unset or holds no
// key: a gateway meant to be closed must not start open.
std::vector<std::string> api_keys_from_env(const auth_config& auth);

// What a process needs of the machine it starts on, beyond a valid file (muse-node's roles: all
// needs both, gpu loads the model, gateway serves HTTP).
struct process_needs {
  bool loads_model = true;  // model.path (and model.config_dir) hold a model to load
  bool serves_http = true;  // auth.api_keys_env, when given, names a variable that holds keys
};

// Checks the files and environment the config names, for a process with these needs: that
// model.path is a diffusers folder (with model_index.json) or a .safetensors file whose configs
// are beside it or in model.config_dir, and that auth.api_keys_env names a set variable holding a
// key. Throws one config_error listing every problem, each at its key, as parse_config does.
void check_environment(const deployment_config& config, const process_needs& needs);

}  // namespace muse::config
