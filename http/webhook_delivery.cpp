#include "http/webhook_delivery.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>

#include "actors/log.hpp"
#include "http/api_error.hpp"
#include "http/slack_signature.hpp"
#include "http/webhook_url.hpp"

namespace muse::http {
namespace {

// A receiver that takes longer is treated as down: the delivery is tried again later.
constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr auto transfer_timeout = std::chrono::seconds(10);
// The longest wait between two attempts, whatever the doubling reaches.
constexpr auto max_backoff = std::chrono::seconds(600);

int64_t nanoseconds(webhook_delivery::clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct post_outcome {
  CURLcode code = CURLE_OK;
  long status = 0;
};

struct abort_check {
  const std::atomic<int64_t>* abort_at_ns;
};

// One POST of `body`; libcurl's own timeouts bound it, and a deadline set while it runs cuts it.
post_outcome post_once(const std::string& url, const std::vector<std::string>& header_lines,
                       const std::string& body, std::chrono::milliseconds time_left,
                       const std::atomic<int64_t>& abort_at_ns) {
  CURL* curl = curl_easy_init();
  if (!curl) return {CURLE_FAILED_INIT, 0};
  struct curl_slist* headers = nullptr;
  for (const auto& line : header_lines) headers = curl_slist_append(headers, line.c_str());
  const auto total = std::min<std::chrono::milliseconds>(transfer_timeout, time_left);
  const auto connect = std::min<std::chrono::milliseconds>(connect_timeout, total);
  abort_check check{&abort_at_ns};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(std::max<int64_t>(1, connect.count())));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(std::max<int64_t>(1, total.count())));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // The host was checked against the allow list; a redirect would lead anywhere.
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "muse-webhook/1");
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char*, size_t size, size_t count, void*) -> size_t { return size * count; });
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(
      curl, CURLOPT_XFERINFOFUNCTION,
      +[](void* data, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
        const auto* check = static_cast<const abort_check*>(data);
        return nanoseconds(webhook_delivery::clock::now()) > check->abort_at_ns->load() ? 1 : 0;
      });
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &check);
  post_outcome out;
  out.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

// The job store only records the state; a failure to record it loses nothing sent.
void tell(const webhook_delivery::report_function& report, webhook_state state, int attempts) {
  if (!report) return;
  try {
    report(state, attempts);
  } catch (...) {
  }
}

std::string unix_seconds_now() {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

}  // namespace

const char* to_string(webhook_state state) {
  switch (state) {
    case webhook_state::pending:
      return "pending";
    case webhook_state::delivered:
      return "delivered";
    case webhook_state::failed:
      return "failed";
  }
  return "failed";
}

std::string webhook_signature(const std::string& secret, const std::string& timestamp,
                              const std::string& body) {
  return "v0=" + hmac_sha256_hex(secret, "v0:" + timestamp + ":" + body);
}

webhook_delivery::webhook_delivery(const config::gateway_config& gateway, http_metrics& metrics)
    : hosts_(gateway.webhook_hosts),
      secret_(config::secret_from_env(gateway.webhook_secret_env).value_or("")),
      retries_(gateway.webhook_retries),
      backoff_(gateway.webhook_backoff_s),
      metrics_(metrics) {}

webhook_delivery::~webhook_delivery() { stop(clock::now()); }

std::string webhook_delivery::accepted_url(const std::string& url) const {
  if (!hosts_.empty() && secret_.empty())
    throw invalid_field("webhook",
                        "webhook is not accepted: no secret to sign deliveries with is set "
                        "(gateway.webhook_secret_env)");
  return checked_webhook_url(url, hosts_);
}

void webhook_delivery::post(const std::string& job_id, std::string url,
                            std::function<std::string()> make_body, report_function report) {
  delivery d{job_id, std::move(url), std::move(make_body), "", false, std::move(report),
             0,      clock::now()};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopped_) {
      queue_.push_back(std::move(d));
      if (!started_) {
        started_ = true;
        thread_ = std::thread([this] { run(); });
      }
      changed_.notify_all();
      return;
    }
  }
  conclude(d, webhook_state::failed, "the server stopped before it could be attempted");
}

void webhook_delivery::stop(clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    deadline_ = deadline;
    abort_at_ns_ = nanoseconds(deadline);
    changed_.notify_all();
    if (!started_) return;
  }
  thread_.join();
}

webhook_delivery::clock::duration webhook_delivery::backoff_after(int attempts) const {
  const double seconds = backoff_.count() * std::pow(2.0, double(std::max(0, attempts - 1)));
  const auto wait = std::chrono::duration<double>(
      std::min(seconds, std::chrono::duration<double>(max_backoff).count()));
  return std::chrono::duration_cast<clock::duration>(wait);
}

void webhook_delivery::run() {
  for (;;) {
    delivery next;
    bool last_chance = false;
    clock::time_point deadline = clock::time_point::max();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        if (queue_.empty()) {
          if (stopping_) return;
          changed_.wait(lock);
          continue;
        }
        auto soonest =
            std::min_element(queue_.begin(), queue_.end(),
                             [](const delivery& a, const delivery& b) { return a.due < b.due; });
        // Stopping: every delivery still pending is due now, once.
        if (stopping_ || soonest->due <= clock::now()) {
          next = std::move(*soonest);
          queue_.erase(soonest);
          break;
        }
        changed_.wait_until(lock, soonest->due);
      }
      last_chance = stopping_;
      deadline = deadline_;
    }
    if (last_chance && clock::now() >= deadline) {
      conclude(next, webhook_state::failed, "the server stopped before it was attempted again");
      continue;
    }
    attempt_result result = attempt(next, deadline);
    if (result.delivered) {
      conclude(next, webhook_state::delivered, "");
      continue;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (!result.retryable || next.attempts > retries_ || stopping_) {
      lock.unlock();
      conclude(next, webhook_state::failed, result.problem);
      continue;
    }
    next.due = clock::now() + backoff_after(next.attempts);
    report_function report = next.report;
    const int attempts = next.attempts;
    queue_.push_back(std::move(next));
    lock.unlock();
    metrics_.record_webhook(webhook_result::retried);
    tell(report, webhook_state::pending, attempts);
  }
}

webhook_delivery::attempt_result webhook_delivery::attempt(delivery& d,
                                                           clock::time_point deadline) {
  if (!d.body_made) {
    try {
      d.body = d.make_body();
    } catch (const std::exception& error) {
      return {false, false, std::string("its body could not be made: ") + error.what()};
    }
    d.body_made = true;
  }
  ++d.attempts;
  const std::string timestamp = unix_seconds_now();
  const std::vector<std::string> headers = {
      "Content-Type: application/json", "Expect:", "X-Muse-Request-Timestamp: " + timestamp,
      "X-Muse-Signature: " + webhook_signature(secret_, timestamp, d.body)};
  const auto time_left =
      deadline == clock::time_point::max()
          ? std::chrono::milliseconds(transfer_timeout)
          : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  const post_outcome out = post_once(d.url, headers, d.body, time_left, abort_at_ns_);
  if (out.code != CURLE_OK)
    return {false, true, std::string("no answer: ") + curl_easy_strerror(out.code)};
  if (out.status >= 200 && out.status < 300) return {true, false, ""};
  const bool retryable = out.status >= 500 || out.status == 429;
  return {false, retryable, "answered HTTP " + std::to_string(out.status)};
}

void webhook_delivery::conclude(delivery& d, webhook_state state, const std::string& problem) {
  const bool delivered = state == webhook_state::delivered;
  metrics_.record_webhook(delivered ? webhook_result::delivered : webhook_result::failed);
  if (!delivered)
    actors::log_warning("webhook", "job " + d.job_id + ": delivery failed after " +
                                       std::to_string(d.attempts) + " attempt(s): " + problem);
  tell(d.report, state, d.attempts);
}

}  // namespace muse::http
