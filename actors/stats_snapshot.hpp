#pragma once
// The gateway's figures as typed structs: the batcher answers its queue figures, the balancer its
// workers', the stats actor adds its own and the scaling decisions and answers the whole snapshot.
// Plain C++ (no CAF, nothing of model/): the supervisor reads its fields to decide, and http/ turns
// it into the JSON of /api/v1/stats and the Prometheus text of /metrics. Their inspect()
// overloads are in messages.hpp.

#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/order.hpp"

namespace muse::actors {

// The batcher's queue: samples waiting there and in the balancer's backlog.
struct queue_figures {
  uint64_t depth = 0;  // batcher_depth + balancer_backlog: what max_queue bounds
  uint64_t max = 0;
  uint64_t keys = 0;  // distinct batch keys waiting in the batcher
  double arrivals_per_s = 0;
  uint64_t arrivals_total = 0;
  uint64_t batcher_depth = 0;
  uint64_t balancer_backlog = 0;
  // By model: samples waiting in the batcher; arrivals per second (over the same window).
  std::map<std::string, uint64_t> batcher_depth_by_model;
  std::map<std::string, double> arrivals_by_model;
};

// One worker as the balancer sees it. The counters run over the life of the slot (a replacement
// under the same id adds to its predecessor's); a drained worker leaves the list.
struct worker_figures {
  std::string id;
  std::string model;  // the model it serves
  std::string node;
  std::string device;
  std::string state;  // loading | ready | draining | dead (died, until replaced or not wanted)
  uint64_t in_flight = 0;
  uint64_t batches_done = 0;
  uint64_t images_done = 0;
  double mean_batch_size = 0;  // samples per model call
  uint64_t steps_done = 0;
  uint64_t steps_saved = 0;
  uint64_t model_calls = 0;
  uint32_t starts = 0;
  double images_per_s = 0;
  double busy_s = 0;         // seconds it had a batch running: its capacity is work per busy second
  uint64_t image_steps = 0;  // the step counts of its images_done, added up
  // Model calls and their busy seconds by the samples in the call (index: samples - 1, up to
  // max_batch_size): a step's time at each batch size, so that the capacity meter knows what a
  // worker serves in full batches however full the load made them.
  std::vector<uint64_t> calls_by_rows;
  std::vector<double> busy_s_by_rows;
};

struct worker_pool_figures {
  int32_t ready = 0;
  uint64_t total = 0;
  uint64_t capacity_per_worker = 0;
  std::vector<worker_figures> list;
  std::map<std::string, uint64_t> backlog_by_model;  // samples held in the balancer's backlog
};

// A GPU node as the supervisor sees it (README.md, "The cluster"). Times are the gateway's uptime.
struct node_figures {
  std::string name;
  std::string state;      // up | unreachable | backoff
  int32_t workers = 0;    // workers the supervisor counts there
  double since_s = 0;     // when it entered its state (backoff: the last failure)
  double retry_at_s = 0;  // unreachable: the next probe; backoff: the next spawn; up: 0
};

// Nearest-rank percentiles of the most recent latencies, in milliseconds.
struct latency_summary {
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  uint64_t count = 0;  // ever
};

struct order_figures {
  uint64_t accepted = 0;
  uint64_t completed = 0;
  std::vector<uint64_t> failed = std::vector<uint64_t>(std::size(all_failures));  // by failure
  int64_t open = 0;
  uint64_t failed_count(failure f) const { return failed.at(static_cast<size_t>(f)); }
};

struct batch_figures {
  uint64_t done = 0;
  uint64_t images = 0;
  double mean_size = 0;
  std::map<uint32_t, uint64_t> size_histogram;  // samples per batch -> batches
};

struct order_latencies {
  latency_summary queue;
  latency_summary inference;
  latency_summary total;
};

struct served_model {
  std::string name;
  model_limits limits;
};

// One served model: what a request may ask of it, its workers, and its traffic.
struct model_figures {
  std::string name;
  std::optional<model_limits> limits;  // none until one of its workers has loaded it
  int32_t ready_workers = 0;
  int32_t workers = 0;       // in the balancer's list (loading, ready, draining or dead)
  uint64_t queue_depth = 0;  // samples waiting in the batcher and the balancer's backlog
  double arrivals_per_s = 0;
  uint64_t in_flight = 0;  // samples on its workers
  uint64_t completed = 0;  // orders
  uint64_t failed = 0;
  uint64_t images = 0;
};

// What the scaling policy decides from.
struct scaling_inputs {
  double arrivals_per_s = 0;           // samples into the batcher per second, last interval
  uint64_t queue_depth = 0;            // samples waiting at the gateway (batcher + backlog)
  uint64_t in_flight = 0;              // samples on workers
  int32_t workers = 0;                 // running or starting, not draining
  double images_per_s_per_worker = 0;  // one worker's images per busy second; 0 while unknown
  double full_batch_images_per_s = 0;  // the same in full batches (max_batch_size); 0 while unknown
};

enum class scaling_action { hold, up, down };
const char* to_string(scaling_action action);

struct scaling_decision {
  int32_t target = 0;
  scaling_action action = scaling_action::hold;
  std::string reason;
};

// One decision as the supervisor logs it and the stats keep it.
struct scaling_record {
  std::string model;  // the model it sizes
  scaling_decision decision;
  scaling_inputs inputs;
  std::string policy;  // autoscale.policy
  double at_s = 0;     // gateway uptime when it was taken
};

struct stats_snapshot {
  double uptime_s = 0;
  bool ready = false;
  std::optional<served_model> model;   // the default model's; none until a worker has loaded it
  std::vector<model_figures> models;   // every served model, in the config's order
  std::optional<queue_figures> queue;  // none when the batcher did not answer in time
  order_figures orders;
  batch_figures batches;
  order_latencies latency_ms;
  std::optional<worker_pool_figures> workers;  // none when the balancer did not answer in time
  std::vector<scaling_record> decisions;       // the last 50, oldest first
  std::vector<node_figures> nodes;  // the supervisor's; empty on a gateway that does not lead
};

// What gateway::stats() answers: a snapshot, or why there is none.
struct stats_reply {
  std::optional<stats_snapshot> snapshot;
  bool ready = false;  // set when there is no snapshot
  std::string error;   // why there is none
};
using stats_callback = std::function<void(stats_reply)>;

}  // namespace muse::actors
