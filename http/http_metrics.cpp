#include "http/http_metrics.hpp"

#include <algorithm>

namespace muse::http {

const std::vector<double>& http_metrics::latency_buckets() {
  // Health checks take microseconds, generations seconds to minutes: cover both.
  static const std::vector<double> buckets = {0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1,
                                              2.5,   5,     10,    30,  60,   120, 300};
  return buckets;
}

void http_metrics::record(const std::string& route, int status,
                          std::chrono::duration<double> latency) {
  const auto& bounds = latency_buckets();
  size_t bucket =
      size_t(std::lower_bound(bounds.begin(), bounds.end(), latency.count()) - bounds.begin());
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.requests[{route, status}];
  histogram& h = data_.latency[route];
  if (h.counts.empty()) h.counts.assign(bounds.size() + 1, 0);
  ++h.counts[bucket];
  h.sum_s += latency.count();
  ++h.count;
}

void http_metrics::request_started() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.in_flight;
}

void http_metrics::request_finished() {
  std::lock_guard<std::mutex> lock(mutex_);
  --data_.in_flight;
}

void http_metrics::record_rate_limited() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++data_.rate_limited;
}

void http_metrics::record_webhook(webhook_result result) {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (result) {
    case webhook_result::delivered:
      ++data_.webhooks_delivered;
      break;
    case webhook_result::failed:
      ++data_.webhooks_failed;
      break;
    case webhook_result::retried:
      ++data_.webhooks_retried;
      break;
  }
}

http_metrics::snapshot http_metrics::read() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return data_;
}

nlohmann::json http_metrics::to_json() const {
  snapshot s = read();
  nlohmann::json requests = nlohmann::json::object();
  for (const auto& [key, count] : s.requests)
    requests[key.first][std::to_string(key.second)] = count;
  nlohmann::json latency = nlohmann::json::object();
  for (const auto& [route, h] : s.latency) latency[route] = {{"count", h.count}, {"sum", h.sum_s}};
  return {{"requests", requests},
          {"in_flight", s.in_flight},
          {"rate_limited", s.rate_limited},
          {"latency_s", latency},
          {"webhook_deliveries",
           {{"delivered", s.webhooks_delivered},
            {"failed", s.webhooks_failed},
            {"retried", s.webhooks_retried}}}};
}

}  // namespace muse::http
