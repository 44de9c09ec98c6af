#pragma once
// Latency percentiles by the nearest-rank method: the p-th percentile is a latency that was
// actually observed, the smallest one with at least p% of the samples at or below it.

#include <cstddef>
#include <vector>

namespace muse::bench {

struct latency_summary {
  size_t count = 0;
  double min = 0, mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
};

// `sorted` ascending and not empty; p in [0, 100]. p = 0 gives the minimum.
double nearest_rank(const std::vector<double>& sorted, double p);

// Zeros for no samples. Sorts `samples`.
latency_summary summarize(std::vector<double> samples);

}  // namespace muse::bench
