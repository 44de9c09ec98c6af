#pragma once
// The real muse-node binary as a child process, for the suites that start it: its stdout is read
// until the line that says where it listens, its stderr goes to a log file shown when a test
// fails, and it is killed (SIGKILL) when its object goes, so a failing test leaves none behind.
// Also what those tests ask a node over HTTP (readiness, stats, a POST), and a run of muse-node
// to completion (--check-config, --help).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_folder.hpp"

namespace muse::testing {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What muse-node prints once its HTTP server listens; the rest of the line is host:port.
inline const std::string listening_marker = "muse-node: listening on http://";

namespace detail {

// Starts muse-node with `args`, its stdout on `out_fd` and its stderr on `err_fd`.
inline pid_t spawn_node(const std::vector<std::string>& args, int out_fd, int err_fd) {
  // Built before fork(): the child of a threaded process may only make async-signal-safe calls.
  std::vector<char*> argv{const_cast<char*>(MUSE_NODE_BINARY)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(MUSE_NODE_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

// The wait status of `pid` once it exits, or nullopt if it has not within `limit`.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  pid_t got = 0;
  while ((got = ::waitpid(pid, &status, WNOHANG)) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (got != pid) return std::nullopt;
  return status;
}

}  // namespace detail

struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs muse-node with `args` to completion (killed after `limit`), capturing stdout and stderr.
inline command_result run_node_command(const std::vector<std::string>& args,
                                       const temp_folder& folder,
                                       std::chrono::seconds limit = std::chrono::seconds(30)) {
  const std::string out_path = folder.file("command.out");
  const std::string err_path = folder.file("command.err");
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t pid = detail::spawn_node(args, out, err);
  ::close(out);
  ::close(err);
  auto status = detail::wait_exit(pid, limit);
  if (!status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  command_result result;
  result.exit_code = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

class node_process {
 public:
  // Runs muse-node with `args`, its stderr appended to `log_path`; waits up to `limit` for a
  // stdout line holding `marker` and keeps the rest of that line (the address).
  node_process(const std::vector<std::string>& args, const std::string& log_path,
               const std::string& marker = listening_marker,
               std::chrono::seconds limit = std::chrono::seconds(60)) {
    start(args, log_path, marker, limit);
  }

  // `muse-node --role=all` on `config` (written into a folder of its own), on an ephemeral port.
  explicit node_process(const nlohmann::json& config,
                        std::chrono::seconds limit = std::chrono::seconds(60))
      : own_folder_(std::make_unique<temp_folder>()) {
    const std::string config_path = own_folder_->write("config.json", config.dump(2));
    start({"--role=all", "--config", config_path, "--http-port", "0"},
          own_folder_->file("stderr.log"), listening_marker, limit);
  }

  ~node_process() {
    kill_hard();
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  // What followed the marker: host:port for the HTTP server or a GPU node's actor port.
  const std::string& address() const { return address_; }
  uint16_t port() const { return uint16_t(std::stoi(address_.substr(address_.rfind(':') + 1))); }
  std::string url(const std::string& path) const { return "http://" + address_ + path; }
  std::string log() const { return read_file(log_path_); }

  // SIGSTOP / SIGCONT and the like: the process goes on (or stays stopped) afterwards.
  void signal(int number) { ::kill(pid_, number); }
  void kill_hard() {
    if (pid_ <= 0 || exited_) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    exited_ = true;
  }
  // Sends `signal`; the exit code, or nullopt if it did not exit 0..255 within `limit`.
  std::optional<int> stop(int signal, std::chrono::seconds limit) {
    ::kill(pid_, signal);
    const auto status = detail::wait_exit(pid_, limit);
    if (!status) return std::nullopt;
    exited_ = true;
    return WIFEXITED(*status) ? std::optional<int>(WEXITSTATUS(*status)) : std::nullopt;
  }

 private:
  void start(const std::vector<std::string>& args, const std::string& log_path,
             const std::string& marker, std::chrono::seconds limit) {
    log_path_ = log_path;
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const int err = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = detail::spawn_node(args, out_pipe[1], err);
    ::close(out_pipe[1]);
    ::close(err);
    out_fd_ = out_pipe[0];
    try {
      address_ = read_line_after(marker, limit);
    } catch (...) {
      // The destructor does not run for an object whose constructor throws.
      kill_hard();
      ::close(out_fd_);
      throw;
    }
  }

  // Reads stdout until a line holding `marker`; returns the rest of that line. Throws, quoting
  // what was read and the log, when no such line comes within `limit`.
  std::string read_line_after(const std::string& marker, std::chrono::seconds limit) {
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[512];
      const ssize_t got = ::read(out_fd_, buffer, sizeof buffer);
      if (got <= 0) break;
      seen.append(buffer, size_t(got));
      const auto at = seen.find(marker);
      const auto end = at == std::string::npos ? std::string::npos : seen.find('\n', at);
      if (end != std::string::npos)
        return seen.substr(at + marker.size(), end - at - marker.size());
    }
    throw std::runtime_error("muse-node printed no '" + marker + "' line; stdout: " + seen +
                             "\nstderr: " + log());
  }

  // Declared first: the folder goes after the process that writes into it.
  std::unique_ptr<temp_folder> own_folder_;
  std::string log_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string address_;
  bool exited_ = false;
};

// GET /api/v1/stats, parsed; an empty object when the answer is not JSON (a node going down).
inline nlohmann::json stats_of(const node_process& node) {
  const auto response = http_request("GET", node.url("/api/v1/stats"), "", {}, 10);
  auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json::object() : parsed;
}

// POSTs `body` to `path` on the node.
inline http_response post(const node_process& node, const std::string& path,
                          const nlohmann::json& body) {
  return http_request("POST", node.url(path), body.dump());
}

// Polls /readyz until 200; throws, quoting the node's log, after `limit`.
inline void wait_ready(const node_process& node,
                       std::chrono::seconds limit = std::chrono::seconds(60)) {
  if (!eventually([&] { return http_request("GET", node.url("/readyz")).status == 200; }, limit,
                  std::chrono::milliseconds(50)))
    throw std::runtime_error("muse-node did not become ready; its log:\n" + node.log());
}

}  // namespace muse::testing
