#pragma once
// Reading what a child muse-node process prints, for the tests that start real processes.

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

namespace muse::testing {

// Reads `fd` (a child's stdout) until a line holding `marker`; returns the rest of that line.
// Throws, quoting what was read and `stderr_log()`, when no such line comes within `limit`.
inline std::string read_line_after(int fd, const std::string& marker, std::chrono::seconds limit,
                                   const std::function<std::string()>& stderr_log) {
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buffer[512];
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    seen.append(buffer, size_t(got));
    const auto at = seen.find(marker);
    const auto end = at == std::string::npos ? std::string::npos : seen.find('\n', at);
    if (end != std::string::npos) return seen.substr(at + marker.size(), end - at - marker.size());
  }
  throw std::runtime_error("muse-node printed no '" + marker + "' line; stdout: " + seen +
                           "\nstderr: " + stderr_log());
}

}  // namespace muse::testing
