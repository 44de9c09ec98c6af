#include "http/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace muse::http {

rate_limiter::rate_limiter(double per_second, int burst, size_t prune_above)
    : per_second_(per_second), burst_(std::max(1, burst)), prune_above_(prune_above) {}

double rate_limiter::refilled(const bucket& b, clock::time_point now) const {
  const double elapsed_s = std::chrono::duration<double>(now - b.updated).count();
  return std::min(double(burst_), b.tokens + std::max(0.0, elapsed_s) * per_second_);
}

void rate_limiter::prune(clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();)
    it = refilled(it->second, now) >= burst_ ? buckets_.erase(it) : std::next(it);
}

std::optional<rate_limiter::clock::duration> rate_limiter::take(const std::string& client,
                                                                clock::time_point now) {
  if (!enabled()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = buckets_.find(client);
  if (found == buckets_.end()) {
    if (buckets_.size() >= prune_above_) prune(now);
    found = buckets_.emplace(client, bucket{double(burst_), now}).first;
  }
  bucket& b = found->second;
  b.tokens = refilled(b, now);
  b.updated = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  const double wait_s = (1 - b.tokens) / per_second_;
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(wait_s));
}

size_t rate_limiter::clients() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return buckets_.size();
}

}  // namespace muse::http
