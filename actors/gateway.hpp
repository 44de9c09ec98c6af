#pragma once
// The gateway's face towards http/: a plain C++ object, thread-safe, that hides the actor system.
// http/ submits orders and gets exactly one outcome per order through a callback, and asks for
// the stats the same way; it never sees CAF types nor model/'s (order.hpp and stats_snapshot.hpp
// hold what crosses). Everything behind it (ingress, batcher, balancer, workers, supervisor,
// stats) is actors, started by start_gateway().

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "actors/order.hpp"
#include "actors/stats_snapshot.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

class gateway {
 public:
  virtual ~gateway() = default;

  // Thread-safe. `done` is called exactly once, from an actor thread, whatever happens (including
  // shutdown). `progress`, if set, is called from actor threads as steps complete.
  virtual void submit(generate_order order, outcome_callback done,
                      progress_callback progress = {}) = 0;
  // Stops the order's work at the next denoising step; its outcome is failure::cancelled.
  virtual void cancel(const std::string& order_id) = 0;

  // At least one worker has loaded its model, or a model scales to zero (it serves once asked).
  virtual bool ready() const = 0;
  // Workers with that model loaded ("" = the default); 0 for a model scaled to zero, whose next
  // order waits for a worker to load it.
  virtual int ready_workers(const std::string& model = "") const = 0;
  // Of the served model of that name ("" = the default, the config's first); valid once one of
  // its workers has loaded it (before: model_limits' defaults).
  virtual model_limits limits(const std::string& model = "") const = 0;
  // Thread-safe, never blocks. `done` is called exactly once with the snapshot (queue, batches,
  // workers, latencies, scaling decisions) or why there is none: from an actor thread, from the
  // thread in shutdown() when the request was still open, or from the caller's once the gateway
  // has shut down. It must not block.
  virtual void stats(stats_callback done) const = 0;
  // Stops accepting (submit answers shutting_down), waits until every order in flight is answered
  // or `grace` passes, then stops the workers.
  virtual void shutdown(std::chrono::milliseconds grace) = 0;
};

// Starts the actors for `config`: role "all" places workers in this process, "gateway"
// places them on the configured GPU nodes. With a `gateways` list, `gateway_name` says which of
// them this one is (role "gateway" only): it shares the pool with the others (gateway_peers.hpp).
std::unique_ptr<gateway> start_gateway(const config::deployment_config& config,
                                       const std::string& role,
                                       const std::string& gateway_name = "");

}  // namespace muse::actors
