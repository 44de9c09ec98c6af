#include "actors/latency_tracker.hpp"

#include <algorithm>
#include <cmath>

namespace muse::actors {

void latency_tracker::add(double ms) {
  if (recent_.size() < window_)
    recent_.push_back(ms);
  else
    recent_[next_] = ms;
  next_ = (next_ + 1) % window_;
  ++count_;
}

double latency_tracker::percentile(double p) const {
  if (recent_.empty()) return 0.0;
  auto sorted = recent_;
  std::sort(sorted.begin(), sorted.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

latency_summary latency_tracker::summary() const {
  return latency_summary{percentile(50), percentile(95), percentile(99), count_};
}

}  // namespace muse::actors
