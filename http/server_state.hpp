#pragma once
// What the routes of one server share: the config, the gateway, the HTTP counters, the draining
// flag, which orders each connection has in flight (so a client that goes away cancels its
// work), and the webhook deliveries of async jobs. Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "actors/gateway.hpp"
#include "cluster_config/config.hpp"
#include "http/generate_request.hpp"
#include "http/http_metrics.hpp"
#include "http/rate_limit.hpp"
#include "http/running_orders.hpp"
#include "http/webhook_delivery.hpp"

namespace muse::http {

class server_state {
 public:
  server_state(config::deployment_config config, actors::gateway& gateway)
      : config(std::move(config)),
        gateway(gateway),
        rate_limits(this->config.gateway.rate_limit_per_s, this->config.gateway.rate_limit_burst),
        webhooks(this->config.gateway, metrics) {}

  const config::deployment_config config;
  actors::gateway& gateway;
  http_metrics metrics;
  rate_limiter rate_limits;
  // Every order in flight, kept by submit_order (order.hpp).
  running_orders running;
  // Async jobs' webhooks, posted on a thread of its own; the server stops it within its grace.
  webhook_delivery webhooks;
  std::atomic<bool> draining{false};

  // What every route that generates does before parsing: 503 while draining, 503 while no worker
  // is ready (the model's limits are unknown then). The body's size is checked before any route.
  void admit_generation() const;
  // The rules a request is checked against: the limits and config of the model it names
  // (absent: the default model). A name no model has is a 400 on `model` listing the served ones.
  request_rules generation_rules(const std::optional<std::string>& model = std::nullopt) const;
  // The config's model of that name; throws that 400 when none is.
  const config::model_config& served_model(const std::string& name) const;
  // A seed for a request that names none, leaving room for its n images above it.
  uint64_t draw_seed() const;
  // The order for a parsed request: a new id and the deadline of its kind (a synchronous
  // request's `request_timeout_s`, an async job's `job_timeout_s`).
  actors::generate_order new_order(const generate_request& request) const;
  actors::generate_order new_job_order(const generate_request& request) const;

  // Orders by the connection that asked for them.
  void order_started(uint64_t connection_id, const std::string& order_id);
  void order_finished(uint64_t connection_id, const std::string& order_id);
  // The connection closed: cancels every order it still has in flight.
  void connection_closed(uint64_t connection_id) noexcept;

  // Runs `task` on one of the HTTP server's threads: where outcomes become responses (base64 and
  // JSON of large PNGs), so the gateway's actor thread that delivered them is free at once.
  // Before the server starts and once it stops, on the caller's thread.
  void run_on_http_thread(std::function<void()> task);
  // The server lends its threads while it runs: `post` queues a call on one of them. On release,
  // tasks still queued run on the caller's thread.
  void use_http_threads(std::function<void(std::function<void()>)> post);
  void release_http_threads();

  // Responses accepted and not yet written (or failed to write).
  void response_pending();
  void response_written();
  // Waits until no response is pending or `limit` passes; true when none is pending.
  bool wait_responses_written(std::chrono::milliseconds limit);

 private:
  std::mutex mutex_;
  std::condition_variable written_;
  std::map<uint64_t, std::set<std::string>> orders_by_connection_;
  int64_t pending_responses_ = 0;

  void run_queued_task() noexcept;
  std::mutex threads_mutex_;
  std::function<void(std::function<void()>)> post_;
  std::deque<std::function<void()>> queued_;
};

}  // namespace muse::http
