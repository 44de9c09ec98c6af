#pragma once
// The gateway's face towards http/: a plain C++ object, thread-safe, that hides the actor system.
// http/ submits orders and gets exactly one outcome per order through a callback; it never sees
// CAF types. Everything behind it (ingress, batcher, balancer, workers, supervisor, stats) is
// actors, started by start_gateway().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster_config/config.hpp"
#include "model/generator.hpp"

namespace muse::actors {

// Why an order got no images. http/ maps each to its status code.
enum class failure {
  invalid_request,  // 400: the model refused the input
  queue_full,       // 429 + Retry-After
  no_worker,        // 503: no worker is ready
  timeout,          // 504: the deadline passed
  cancelled,        // the client cancelled or went away
  shutting_down,    // 503: the gateway is draining
  internal,         // 500
};
const char* to_string(failure f);

struct generate_order {
  std::string id;                               // unique; assigned by http/
  std::vector<model::sample_request> samples;   // one per image (n); each rides the batcher alone
  std::chrono::steady_clock::time_point deadline;
};

struct generated_image {
  std::string png;  // PNG bytes
  uint64_t seed = 0;
};

struct generate_outcome {
  std::string id;
  std::vector<generated_image> images;  // empty on failure
  int steps = 0;
  double queue_ms = 0;      // arrival to start of inference (the slowest sample)
  double inference_ms = 0;  // start of inference to images (the slowest sample)
  double total_ms = 0;
  std::optional<failure> error;
  std::string message;  // human-readable, set with error
};

// Progress of one order: `step` of `total` denoising steps done (the slowest of its samples).
using progress_callback = std::function<void(int step, int total)>;
using outcome_callback = std::function<void(generate_outcome)>;

class gateway {
 public:
  virtual ~gateway() = default;

  // Thread-safe. `done` is called exactly once, from an actor thread, whatever happens (including
  // shutdown). `progress`, if set, is called from actor threads as steps complete.
  virtual void submit(generate_order order, outcome_callback done, progress_callback progress = {}) = 0;
  // Stops the order's work at the next denoising step; its outcome is failure::cancelled.
  virtual void cancel(const std::string& order_id) = 0;

  virtual bool ready() const = 0;                 // at least one worker has loaded its model
  virtual model::model_limits limits() const = 0;  // of the served model (valid once ready)
  virtual nlohmann::json stats() const = 0;        // snapshot: queue, batches, workers, latencies
  // Stops accepting (submit answers shutting_down), waits until every order in flight is answered
  // or `grace` passes, then stops the workers.
  virtual void shutdown(std::chrono::milliseconds grace) = 0;
};

// Builds the actor pipeline for `config`: role "all" places workers in this process, "gateway"
// places them on the configured GPU nodes.
std::unique_ptr<gateway> start_gateway(const config::deployment_config& config,
                                       const std::string& role);

}  // namespace muse::actors
