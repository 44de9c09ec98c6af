#include "actors/log.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace muse::actors {
namespace {

void write_line(const char* level, const std::string& who, const std::string& what) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto seconds = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  // One fprintf per line so that lines from different threads do not interleave.
  std::fprintf(stderr, "%s.%03dZ %s %s: %s\n", stamp, static_cast<int>(millis), level, who.c_str(),
               what.c_str());
}

}  // namespace

bool debug_logging() {
  static const bool enabled = [] {
    const char* value = std::getenv("MUSE_LOG");
    return value != nullptr && std::string(value) == "debug";
  }();
  return enabled;
}

void log_info(const std::string& who, const std::string& what) { write_line("INFO", who, what); }

void log_warning(const std::string& who, const std::string& what) { write_line("WARN", who, what); }

void log_debug(const std::string& who, const std::string& what) {
  if (debug_logging()) write_line("DEBUG", who, what);
}

}  // namespace muse::actors
