#pragma once
// What a run measured, and its two renderings: a table for people and a JSON object for plot.py.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/latency_stats.hpp"

namespace muse::bench {

// Counts of one part of a run; lanes (event-loop threads) keep one each and merge at the end.
struct tally {
  uint64_t ok = 0;            // measured requests that succeeded
  uint64_t ok_in_window = 0;  // successful responses, measured or not, that arrived in the window
  std::map<int, uint64_t> by_status;  // non-2xx responses
  uint64_t connect_errors = 0;
  uint64_t connection_errors = 0;
  uint64_t timeouts = 0;
  uint64_t protocol_errors = 0;
  uint64_t warmup_requests = 0;
  std::vector<double> latencies_ms;  // of the successful measured requests
  std::string first_error;

  uint64_t failed() const;
  uint64_t measured() const { return ok + failed(); }
  void merge(const tally& other);
};

struct bench_result {
  tally counts;
  // The measured window: from the end of the warmup to the end of the duration, or to the last
  // measured response when that comes first.
  double elapsed_s = 0;
  int images_per_request = 1;
  latency_summary latency;
  bool interrupted = false;  // stopped by a signal before its bound

  double requests_per_s() const {
    return elapsed_s > 0 ? double(counts.ok_in_window) / elapsed_s : 0;
  }
  double images_per_s() const { return requests_per_s() * images_per_request; }
  // Exit status 1 when nothing succeeded.
  bool all_failed() const { return counts.ok == 0; }
};

bench_result make_result(tally counts, double elapsed_s, int images_per_request);

nlohmann::json to_json(const bench_result& result, const bench_options& options);

std::string format_table(const bench_result& result, const bench_options& options);

}  // namespace muse::bench
