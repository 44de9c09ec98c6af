#pragma once
// Runs the real muse-node binary as a child process: writes its config into a fresh temporary
// folder, reads the "listening on" line from its stdout to learn the port, and stops it with a
// signal, reporting the exit status. Its stderr goes to a log file shown when a test fails.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_output.hpp"

namespace muse::testing {

class temp_folder {
 public:
  temp_folder() {
    std::string pattern = "/tmp/muse-integration-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_folder() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs muse-node with `args` to completion (bounded by `limit`), capturing stdout and stderr.
inline command_result run_node_command(const std::vector<std::string>& args,
                                       const temp_folder& folder,
                                       std::chrono::seconds limit = std::chrono::seconds(30)) {
  std::string out_path = folder.path() + "/command.out", err_path = folder.path() + "/command.err";
  // Built before fork(): the child of a threaded process may only make async-signal-safe calls.
  std::vector<char*> argv{const_cast<char*>(MUSE_NODE_BINARY)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(MUSE_NODE_BINARY, argv.data());
    ::_exit(127);
  }
  command_result result;
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

class node_process {
 public:
  // Starts `muse-node --role=all --config <folder>/config.json --http-port 0`.
  node_process(const nlohmann::json& config,
               std::chrono::seconds start_limit = std::chrono::seconds(60)) {
    config_path_ = folder_.write("config.json", config.dump(2));
    log_path_ = folder_.path() + "/stderr.log";
    int out_pipe[2];
    if (::pipe(out_pipe) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out_pipe[1], 1);
      ::close(out_pipe[0]);
      int err = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(err, 2);
      ::execl(MUSE_NODE_BINARY, MUSE_NODE_BINARY, "--role=all", "--config", config_path_.c_str(),
              "--http-port", "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out_pipe[1]);
    out_fd_ = out_pipe[0];
    port_ = read_port(start_limit);
  }

  ~node_process() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string log() const { return read_file(log_path_); }

  // Sends `signal` and waits up to `limit` for the exit; the exit code, or nullopt if it did not
  // exit in time (or died by a signal).
  std::optional<int> stop(int signal, std::chrono::seconds limit) {
    ::kill(pid_, signal);
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        if (WIFEXITED(status))
          exit_code_ = WEXITSTATUS(status);
        else
          exit_code_ = 128 + WTERMSIG(status);
        return WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  uint16_t read_port(std::chrono::seconds limit) {
    const std::string address = read_line_after(out_fd_, "muse-node: listening on http://", limit,
                                                [this] { return log(); });
    return uint16_t(std::stoi(address.substr(address.rfind(':') + 1)));
  }

  temp_folder folder_;
  std::string config_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
  std::optional<int> exit_code_;
};

}  // namespace muse::testing
