#pragma once
// Arrivals per second over a sliding window (one-second buckets), for the autoscaler.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace muse::actors {

class rate_counter {
 public:
  using clock = std::chrono::steady_clock;

  explicit rate_counter(std::chrono::seconds window = std::chrono::seconds(10)) : window_(window) {}

  void add(clock::time_point now, uint64_t count = 1);
  // Mean rate over the window (or over the time since the first arrival, if shorter).
  double per_second(clock::time_point now);
  uint64_t total() const { return total_; }

 private:
  void expire(clock::time_point now);

  std::chrono::seconds window_;
  std::deque<std::pair<clock::time_point, uint64_t>> buckets_;  // start of second, count
  std::optional<clock::time_point> first_;
  uint64_t total_ = 0;
};

}  // namespace muse::actors
