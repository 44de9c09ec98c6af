#pragma once
// Per-client rate limits: a token bucket per client (an API key, or an address), holding `burst`
// requests and refilled at `per_second`. Thread-safe; time is passed in, so tests drive it.
// Buckets that have refilled completely are forgotten once there are many, so the table stays
// bounded by the clients active within a refill time.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace muse::http {

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  // per_second 0: no limit (take() always admits).
  rate_limiter(double per_second, int burst, size_t prune_above = 10000);

  bool enabled() const { return per_second_ > 0; }
  double per_second() const { return per_second_; }
  int burst() const { return burst_; }

  // nullopt: admitted, one token taken. Otherwise the time until the client's next token.
  std::optional<clock::duration> take(const std::string& client, clock::time_point now);

  size_t clients() const;

 private:
  struct bucket {
    double tokens = 0;
    clock::time_point updated;
  };
  double refilled(const bucket& b, clock::time_point now) const;
  void prune(clock::time_point now);

  double per_second_;
  int burst_;
  size_t prune_above_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace muse::http
