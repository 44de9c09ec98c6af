#pragma once
// A cluster of real muse-node processes on loopback: a gateway (--role=gateway) and GPU nodes
// (--role=gpu --node NAME), each a child process whose stdout is read for its "listening" line.
// Every child is killed (SIGKILL) when its object goes, so a failing test leaves none behind.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_output.hpp"
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

class child_process {
 public:
  // Runs muse-node with `args`; waits up to `limit` for a stdout line starting with `marker` and
  // keeps the rest of that line (the address).
  child_process(std::vector<std::string> args, const std::string& log_path,
                const std::string& marker, std::chrono::seconds limit = std::chrono::seconds(60))
      : log_path_(log_path) {
    std::vector<char*> argv{const_cast<char*>(MUSE_NODE_BINARY)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int out_pipe[2];
    if (::pipe(out_pipe) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out_pipe[1], 1);
      ::close(out_pipe[0]);
      int err = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(err, 2);
      ::execv(MUSE_NODE_BINARY, argv.data());
      ::_exit(127);
    }
    ::close(out_pipe[1]);
    out_fd_ = out_pipe[0];
    address_ = read_line_after(marker, limit);
  }
  ~child_process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  const std::string& address() const { return address_; }
  std::string log() const { return read_file(log_path_); }

  // SIGSTOP / SIGCONT and the like: the process goes on (or stays stopped) afterwards.
  void signal(int number) { ::kill(pid_, number); }
  void kill_hard() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    exited_ = true;
  }
  // The exit code after `signal`, or nullopt if it did not exit 0..255 within `limit`.
  std::optional<int> stop(int signal, std::chrono::seconds limit) {
    ::kill(pid_, signal);
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  std::string read_line_after(const std::string& marker, std::chrono::seconds limit) {
    return muse::testing::read_line_after(out_fd_, marker, limit, [this] { return log(); });
  }

  std::string log_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string address_;
  bool exited_ = false;
};

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
  child_process& start_node(const std::string& name, const std::string& config_file = "") {
    nodes_.push_back(std::make_unique<child_process>(
        std::vector<std::string>{"--role=gpu", "--config",
                                 config_file.empty() ? config_path_ : config_file, "--node", name},
        folder_.path() + "/" + name + ".log", "muse-node: gpu node " + name + " listening on "));
    return *nodes_.back();
  }
  child_process& start_gateway() {
    gateway_ = std::make_unique<child_process>(
        std::vector<std::string>{"--role=gateway", "--config", config_path_, "--http-port", "0"},
        folder_.path() + "/gateway.log", "muse-node: listening on http://");
    return *gateway_;
  }

  // One gateway of the config's `gateways` list (log: NAME.log, kept across restarts); starting
  // it again replaces the process (after kill_hard). `config_file`: as for start_node.
  child_process& start_gateway(const std::string& name, const std::string& config_file = "") {
    auto& slot = named_gateways_[name];
    slot = std::make_unique<child_process>(
        std::vector<std::string>{"--role=gateway", "--config",
                                 config_file.empty() ? config_path_ : config_file, "--gateway",
                                 name, "--http-port", "0"},
        folder_.path() + "/" + name + ".log", "muse-node: listening on http://");
    return *slot;
  }

  std::string url(const std::string& path) const { return "http://" + gateway_->address() + path; }
  nlohmann::json stats() const {
    auto response = http_request("GET", url("/api/v1/stats"));
    auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    return parsed.is_discarded() ? nlohmann::json::object() : parsed;
  }
  // Every process's stderr, for a failing test's message.
  std::string logs() const {
    std::string all;
    if (gateway_) all += "--- gateway\n" + gateway_->log();
    for (auto& [name, gateway] : named_gateways_) all += "--- " + name + "\n" + gateway->log();
    for (auto& node : nodes_) all += "--- node\n" + node->log();
    return all;
  }
  child_process& gateway() { return *gateway_; }
  const temp_folder& folder() const { return folder_; }

 private:
  temp_folder folder_;
  nlohmann::json config_;
  std::string config_path_;
  // Declared after the folder: the children die before their logs are removed.
  std::unique_ptr<child_process> gateway_;
  std::vector<std::unique_ptr<child_process>> nodes_;
  std::map<std::string, std::unique_ptr<child_process>> named_gateways_;
};

// Polls `done` every 50 ms until it holds or `limit` passes.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
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
