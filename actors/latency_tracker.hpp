#pragma once
// Percentiles of the most recent latencies (a bounded window, so memory stays flat under load).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "actors/stats_snapshot.hpp"

namespace muse::actors {

class latency_tracker {
 public:
  explicit latency_tracker(size_t window = 4096) : window_(window) {}

  void add(double ms);
  // Nearest-rank percentile (p in 0..100) of the window; 0 when empty.
  double percentile(double p) const;
  uint64_t count() const { return count_; }
  latency_summary summary() const;

 private:
  size_t window_;
  std::vector<double> recent_;  // ring buffer
  size_t next_ = 0;
  uint64_t count_ = 0;
};

}  // namespace muse::actors
