#pragma once
// The HTTP layer's own counters: requests by route and status, and latency histograms by route.
// Thread-safe; recorded when a response is sent. Routes are the router's patterns (or
// "unmatched"), so the label set stays bounded whatever paths clients send.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace muse::http {

// What became of a webhook delivery's attempt: it ended delivered or failed, or is retried.
enum class webhook_result { delivered, failed, retried };

class http_metrics {
 public:
  // Upper bounds of the latency histogram buckets, in seconds (then +Inf).
  static const std::vector<double>& latency_buckets();

  void record(const std::string& route, int status, std::chrono::duration<double> latency);
  void request_started();
  void request_finished();
  // A request refused by the per-client rate limit (also counted as its 429 response).
  void record_rate_limited();
  void record_webhook(webhook_result result);

  struct histogram {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; the last is +Inf
    double sum_s = 0;
    uint64_t count = 0;
  };
  struct snapshot {
    std::map<std::pair<std::string, int>, uint64_t> requests;  // (route, status) -> count
    std::map<std::string, histogram> latency;                  // route -> histogram
    int64_t in_flight = 0;
    uint64_t rate_limited = 0;
    uint64_t webhooks_delivered = 0;
    uint64_t webhooks_failed = 0;
    uint64_t webhooks_retried = 0;
  };
  snapshot read() const;

  // {"requests": {"<route>": {"<status>": n}}, "in_flight": n, "rate_limited": n,
  // "latency_s": {"<route>": {"count", "sum"}}, "webhook_deliveries": {"delivered", "failed",
  // "retried"}}
  nlohmann::json to_json() const;

 private:
  mutable std::mutex mutex_;
  snapshot data_;
};

}  // namespace muse::http
