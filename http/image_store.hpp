#pragma once
// PNGs served at unguessable, expiring URLs (OpenAI's response_format "url", Slack image blocks).
// Thread-safe; expired images are dropped on every access.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace muse::http {

class image_store {
 public:
  using clock = std::chrono::steady_clock;

  // Images live `ttl`; at most `max_bytes` of PNG are kept (the oldest go first).
  image_store(std::chrono::seconds ttl, size_t max_bytes);

  // Keeps `png` and returns its token: 192 random bits as 48 hex digits.
  std::string put(std::string png);
  std::optional<std::string> get(const std::string& token);
  std::chrono::seconds ttl() const { return ttl_; }

 private:
  struct entry {
    std::string png;
    clock::time_point expires;
  };
  void sweep(clock::time_point now);  // with mutex_ held

  std::mutex mutex_;
  std::map<std::string, entry> images_;
  std::chrono::seconds ttl_;
  size_t max_bytes_;
  size_t bytes_ = 0;
};

}  // namespace muse::http
