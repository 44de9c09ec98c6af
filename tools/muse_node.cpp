// muse-node: one process of a Muse deployment. --role=all serves HTTP and runs the model workers
// in this process; --role=gateway serves HTTP with the workers on GPU nodes; --role=gpu is one
// of those nodes; --check-config validates a config file and prints its effective form.

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/gateway.hpp"
#include "actors/gpu_node.hpp"
#include "actors/log.hpp"
#include "cluster_config/config.hpp"
#include "http/server.hpp"

namespace {

constexpr int exit_usage = 2;

const char* usage_text =
    "usage: muse-node --role=all|gateway --config FILE [--http-port N] [--gateway NAME]\n"
    "       muse-node --role=gpu --config FILE --node NAME\n"
    "       muse-node --check-config FILE [--role=all|gateway|gpu]\n"
    "       muse-node --help\n"
    "\n"
    "  --role=all        HTTP gateway and model workers in this process (one machine)\n"
    "  --role=gateway    HTTP gateway; workers on the config's gpu_nodes\n"
    "  --role=gpu        GPU node NAME of the config: runs the workers the gateway starts there\n"
    "  --node NAME       which of the config's gpu_nodes this process is (with --role=gpu)\n"
    "  --gateway NAME    which of the config's gateways this process is (with --role=gateway;\n"
    "                    required when the config lists gateways)\n"
    "  --config FILE     the deployment config (JSON with comments)\n"
    "  --http-port N     listen on port N instead of gateway.http_port (0: any free port)\n"
    "  --check-config F  validate F and what it names on this machine for --role (default all:\n"
    "                    gpu and all need model.path to hold a model, gateway and all need the\n"
    "                    variable auth.api_keys_env names); print the effective config as JSON,\n"
    "                    exit 0 (2 if invalid)\n"
    "\n"
    "SIGINT/SIGTERM: stop taking requests, answer those in flight, exit 0.\n";

struct usage_error {
  std::string message;
};

struct options {
  bool help = false;
  std::string check_config;
  std::string role;
  std::string config_path;
  std::optional<std::string> node;
  std::optional<std::string> gateway;
  std::optional<uint16_t> http_port;
};

uint16_t parse_port(const std::string& text) {
  try {
    size_t used = 0;
    long value = std::stol(text, &used);
    if (used == text.size() && value >= 0 && value <= 65535) return uint16_t(value);
  } catch (const std::exception&) {
  }
  throw usage_error{"--http-port must be 0..65535, got '" + text + "'"};
}

options parse_arguments(int argc, char** argv) {
  options parsed;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> value;
    if (auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto take_value = [&]() -> std::string {
      if (value) return *value;
      if (i + 1 >= args.size()) throw usage_error{name + " needs a value"};
      return args[++i];
    };
    if (name == "--help" || name == "-h")
      parsed.help = true;
    else if (name == "--check-config")
      parsed.check_config = take_value();
    else if (name == "--role")
      parsed.role = take_value();
    else if (name == "--config")
      parsed.config_path = take_value();
    else if (name == "--node")
      parsed.node = take_value();
    else if (name == "--gateway")
      parsed.gateway = take_value();
    else if (name == "--http-port")
      parsed.http_port = parse_port(take_value());
    else
      throw usage_error{"unknown argument '" + args[i] + "'"};
  }
  if (parsed.help) return parsed;
  const bool checking = !parsed.check_config.empty();
  if (checking &&
      (!parsed.config_path.empty() || parsed.node || parsed.gateway || parsed.http_port))
    throw usage_error{"--check-config takes no other option than --role"};
  if (checking && parsed.role.empty()) parsed.role = "all";
  if (parsed.role.empty()) throw usage_error{"--role is required"};
  if (parsed.role != "all" && parsed.role != "gateway" && parsed.role != "gpu")
    throw usage_error{"--role must be all, gateway or gpu, got '" + parsed.role + "'"};
  if (checking) return parsed;
  if (parsed.role == "gpu") {
    if (!parsed.node) throw usage_error{"--role=gpu needs --node NAME"};
    if (parsed.http_port) throw usage_error{"--http-port is not for GPU nodes"};
  } else if (parsed.node) {
    throw usage_error{"--node is only for GPU nodes"};
  }
  if (parsed.gateway && parsed.role != "gateway")
    throw usage_error{"--gateway is only for --role=gateway"};
  if (parsed.config_path.empty()) throw usage_error{"--config FILE is required"};
  return parsed;
}

// The file, then what it names on this machine for the role: a wrong model path would otherwise
// pass here, and the node would start, listen and retry the load forever.
int check_config(const std::string& path, const std::string& role) {
  try {
    auto config = muse::config::load_config_file(path);
    muse::config::process_needs needs;
    needs.loads_model = role != "gateway";
    needs.serves_http = role != "gpu";
    muse::config::check_environment(config, needs);
    std::cout << muse::config::to_json(config).dump(2) << std::endl;
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "muse-node: " << path << ": " << error.what() << std::endl;
    return exit_usage;
  }
}

// Blocked in every thread (they inherit the mask), so only sigwait() in main sees them.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

int serve(const options& opts) {
  muse::config::deployment_config config;
  try {
    config = muse::config::load_config_file(opts.config_path);
  } catch (const std::exception& error) {
    std::cerr << "muse-node: " << opts.config_path << ": " << error.what() << std::endl;
    return exit_usage;
  }
  if (opts.role == "gpu") return muse::actors::run_gpu_node(config, *opts.node);
  if (!config.gateways.empty() && opts.role == "gateway") {
    // One of several gateways: its entry says where it listens.
    const muse::config::gateway_peer_config* me = nullptr;
    for (const auto& peer : config.gateways)
      if (opts.gateway && peer.name == *opts.gateway) me = &peer;
    if (me == nullptr) {
      std::string known;
      for (const auto& peer : config.gateways) known += (known.empty() ? "" : ", ") + peer.name;
      std::cerr << "muse-node: the config lists gateways (" << known
                << "): name this one with --gateway NAME" << std::endl;
      return exit_usage;
    }
    config.gateway.host = me->host;
    config.gateway.http_port = me->http_port;
    config.gateway.cluster_port = me->cluster_port;
  }
  if (opts.http_port) config.gateway.http_port = *opts.http_port;

  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<muse::actors::gateway> gateway;
  std::unique_ptr<muse::http::server> server;
  try {
    gateway = muse::actors::start_gateway(config, opts.role, opts.gateway.value_or(""));
    server = std::make_unique<muse::http::server>(config, *gateway);
    server->start();
  } catch (const std::exception& error) {
    std::cerr << "muse-node: cannot start: " << error.what() << std::endl;
    if (gateway) gateway->shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  std::cout << "muse-node: listening on http://" << server->host() << ":" << server->port()
            << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  muse::actors::log_info("muse-node", std::string("received ") +
                                          (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
                                          ": answering requests in flight, then exiting");
  // A second signal means the operator will not wait for the drain.
  std::thread([signals] {
    int again = 0;
    sigwait(&signals, &again);
    muse::actors::log_warning("muse-node", "second signal: exiting without finishing requests");
    std::_Exit(1);
  }).detach();

  // Past every deadline and the workers' own stop time, a gateway still stopping is stuck: say so
  // and exit with an error rather than hang the operator's shell or the service manager.
  const auto stop_limit = std::chrono::seconds(config.gateway.request_timeout_s + 30);
  std::thread([stop_limit] {
    std::this_thread::sleep_for(stop_limit);
    muse::actors::log_warning("muse-node", "shutdown did not finish in " +
                                               std::to_string(stop_limit.count()) + " s: exiting");
    std::_Exit(1);
  }).detach();

  server->drain();
  // Every order in flight has a deadline at most request_timeout_s away, so this answers them all.
  gateway->shutdown(std::chrono::seconds(config.gateway.request_timeout_s));
  server->stop(std::chrono::seconds(5));
  server.reset();
  gateway.reset();
  muse::actors::log_info("muse-node", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    opts = parse_arguments(argc, argv);
  } catch (const usage_error& error) {
    std::cerr << "muse-node: " << error.message << "\n\n" << usage_text;
    return exit_usage;
  }
  if (opts.help) {
    std::cout << usage_text;
    return 0;
  }
  if (!opts.check_config.empty()) return check_config(opts.check_config, opts.role);
  return serve(opts);
}
