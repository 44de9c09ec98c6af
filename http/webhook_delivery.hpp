#pragma once
// Posting finished async jobs to their webhooks, on a thread of its own (never an HTTP or actor
// thread). Each delivery is a JSON POST signed as Slack signs its requests: the headers
// X-Muse-Request-Timestamp (unix seconds) and X-Muse-Signature "v0=" + hex HMAC-SHA256 of
// "v0:{timestamp}:{body}" with the secret of gateway.webhook_secret_env. A 2xx answer ends it; a
// 5xx, a 429 or no answer at all is tried again gateway.webhook_retries times, after
// gateway.webhook_backoff_s, then twice that, and so on; any other answer ends it as failed.
// Deliveries wait in due order; one runs at a time, each bounded by libcurl's timeouts.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster_config/config.hpp"
#include "http/http_metrics.hpp"

namespace muse::http {

enum class webhook_state { pending, delivered, failed };
const char* to_string(webhook_state state);

// "v0=" + lowercase hex HMAC-SHA256 of "v0:" + timestamp + ":" + body, keyed with `secret`.
std::string webhook_signature(const std::string& secret, const std::string& timestamp,
                              const std::string& body);

class webhook_delivery {
 public:
  using clock = std::chrono::steady_clock;
  // Called on the delivery thread after each attempt (and when a delivery is given up).
  using report_function = std::function<void(webhook_state state, int attempts)>;

  // Reads the signing secret from the environment now. `metrics` must outlive this.
  webhook_delivery(const config::gateway_config& gateway, http_metrics& metrics);
  // stop() with no time left: what is pending fails unattempted.
  ~webhook_delivery();
  webhook_delivery(const webhook_delivery&) = delete;
  webhook_delivery& operator=(const webhook_delivery&) = delete;

  // The URL a job may be created with (checked_webhook_url against gateway.webhook_hosts). Throws
  // api_error 400 on `webhook`, also when hosts are allowed but no secret is set to sign with.
  std::string accepted_url(const std::string& url) const;

  // Queues a delivery to `url` (an accepted one). `make_body` runs on the delivery thread, once,
  // before the first attempt. `job_id` names it in the log.
  void post(const std::string& job_id, std::string url, std::function<std::string()> make_body,
            report_function report);

  // Attempts each delivery still pending once more, those waiting for a retry included, until
  // `deadline` (a transfer still running then is cut off), then ends the thread. What remains,
  // and whatever is posted afterwards, fails unattempted.
  void stop(clock::time_point deadline);

 private:
  struct delivery {
    std::string job_id;
    std::string url;
    std::function<std::string()> make_body;
    std::string body;
    bool body_made = false;
    report_function report;
    int attempts = 0;
    clock::time_point due;
  };
  struct attempt_result {
    bool delivered = false;
    bool retryable = false;
    std::string problem;  // why it was not delivered
  };

  void run();
  attempt_result attempt(delivery& d, clock::time_point deadline);
  // Reports `d` ended (delivered or failed) and counts it.
  void conclude(delivery& d, webhook_state state, const std::string& problem);
  clock::duration backoff_after(int attempts) const;

  const std::vector<std::string> hosts_;
  const std::string secret_;
  const int retries_;
  const std::chrono::duration<double> backoff_;
  http_metrics& metrics_;

  // The deadline of stop(), for the transfer running when it comes (read by libcurl's progress
  // callback): nanoseconds of `clock`.
  std::atomic<int64_t> abort_at_ns_{INT64_MAX};

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<delivery> queue_;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  clock::time_point deadline_ = clock::time_point::max();
  std::thread thread_;
};

}  // namespace muse::http
