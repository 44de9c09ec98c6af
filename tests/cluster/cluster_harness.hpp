#pragma once
// A cluster of real muse-node processes on loopback: a gateway (--role=gateway) and GPU nodes
// (--role=gpu --node NAME), each a node_process (tests/support/node_process.hpp): its stdout is
// read for its "listening" line, and it is killed (SIGKILL) when its object goes, so a failing
// test leaves none behind.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/node_process.hpp"

namespace muse::testing {

// A port nothing listens on right now (the kernel's pick), for a GPU node's config.
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// The config file and the processes of one test's cluster.
class cluster {
 public:
  explicit cluster(nlohmann::json config) : config_(std::move(config)) {
    config_path_ = folder_.write("config.json", config_.dump(2));
  }
  // With MUSE_CLUSTER_LOGS set, every process's log goes to stderr at the end of the test.
  ~cluster() {
    if (std::getenv("MUSE_CLUSTER_LOGS") != nullptr) std::fprintf(stderr, "%s\n", logs().c_str());
  }

  // `config_file`: another config than the cluster's (a node with other certificates).
  node_process& start_node(const std::string& name, const std::string& config_file = "") {
    nodes_.push_back(std::make_unique<node_process>(
        std::vector<std::string>{"--role=gpu", "--config",
                                 config_file.empty() ? config_path_ : config_file, "--node", name},
        folder_.file(name + ".log"), "muse-node: gpu node " + name + " listening on "));
    return *nodes_.back();
  }
  node_process& start_gateway() {
    gateway_ = std::make_unique<node_process>(
        std::vector<std::string>{"--role=gateway", "--config", config_path_, "--http-port", "0"},
        folder_.file("gateway.log"));
    return *gateway_;
  }

  // One gateway of the config's `gateways` list (log: NAME.log, kept across restarts); starting
  // it again replaces the process (after kill_hard). `config_file`: as for start_node.
  node_process& start_gateway(const std::string& name, const std::string& config_file = "") {
    auto& slot = named_gateways_[name];
    slot = std::make_unique<node_process>(
        std::vector<std::string>{"--role=gateway", "--config",
                                 config_file.empty() ? config_path_ : config_file, "--gateway",
                                 name, "--http-port", "0"},
        folder_.file(name + ".log"));
    return *slot;
  }

  std::string url(const std::string& path) const { return gateway_->url(path); }
  nlohmann::json stats() const { return stats_of(*gateway_); }
  // Every process's stderr, for a failing test's message.
  std::string logs() const {
    std::string all;
    if (gateway_) all += "--- gateway\n" + gateway_->log();
    for (auto& [name, gateway] : named_gateways_) all += "--- " + name + "\n" + gateway->log();
    for (auto& node : nodes_) all += "--- node\n" + node->log();
    return all;
  }
  node_process& gateway() { return *gateway_; }
  const temp_folder& folder() const { return folder_; }

 private:
  temp_folder folder_;
  nlohmann::json config_;
  std::string config_path_;
  // Declared after the folder: the children die before their logs are removed.
  std::unique_ptr<node_process> gateway_;
  std::vector<std::unique_ptr<node_process>> nodes_;
  std::map<std::string, std::unique_ptr<node_process>> named_gateways_;
};

// actor-stats' stdout for `args` against the cluster's gateway.
inline std::string actor_stats(const cluster& c, const std::string& args = "") {
  const auto address = c.url("").substr(std::string("http://").size());
  const std::string command =
      std::string(ACTOR_STATS_BINARY) + " --gateway " + address + " " + args;
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
    ::pclose(pipe);
  }
  return out;
}

// One fast picture of "a blue circle" from `gateway`; the HTTP status.
inline long generate(const node_process& gateway, int seed) {
  const nlohmann::json body = {{"prompt", "a blue circle"}, {"seed", seed}, {"quality", "fast"}};
  return http_request("POST", gateway.url("/api/v1/generate"), body.dump(), {}, 40).status;
}

// The workers `stats` (a gateway's /api/v1/stats) shows ready on `node`.
inline int ready_on(const nlohmann::json& stats, const std::string& node) {
  int count = 0;
  if (!stats.contains("workers") || !stats["workers"].is_object()) return 0;
  for (auto& w : stats["workers"]["list"])
    if (w["node"] == node && w["state"] == "ready") ++count;
  return count;
}

// Clients sending requests back to back until finish(): client i's n-th request is
// send(first_seed + i * 100000 + n), which returns its HTTP status; a request that throws (no
// answer: the process died under it) counts as -1. finish() returns the count by status.
class closed_loop_load {
 public:
  closed_loop_load(int clients, std::function<long(int seed)> send, int first_seed = 0)
      : send_(std::move(send)) {
    for (int i = 0; i < clients; ++i)
      threads_.emplace_back([this, i, first_seed] {
        for (int n = 0; !stop_; ++n) {
          long status = -1;
          try {
            status = send_(first_seed + i * 100000 + n);
          } catch (const std::exception&) {
          }
          std::lock_guard<std::mutex> lock(mutex_);
          ++statuses_[status];
        }
      });
  }
  ~closed_loop_load() { finish(); }
  std::map<long, int> finish() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    std::lock_guard<std::mutex> lock(mutex_);
    return statuses_;
  }

 private:
  std::function<long(int seed)> send_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::map<long, int> statuses_;
};

}  // namespace muse::testing
