#pragma once
// Every message, atom and typed actor interface of the pipeline, in one place. The protocol (who
// sends what to whom) is written down in README.md beside this file. Everything that may cross
// the network (to model workers on GPU nodes) is inspectable and carries a type ID.

#include <caf/all.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/node_table.hpp"
#include "actors/order.hpp"
#include "actors/stats_snapshot.hpp"
#include "model/generator.hpp"

namespace muse::actors {

using sample_id = uint64_t;

// One image of an order on its way through batcher, balancer and a worker.
struct sample_task {
  sample_id id = 0;
  std::string order_id;
  std::string model;  // the served model's name (config models[].name)
  model::sample_request request;
  uint32_t attempts =
      0;  // how many workers it was given to (more than one: a worker died under it)
};

// What samples must share to ride in one batch and one model call: the model (a worker holds
// one), the size (rows of different sizes cannot share a tensor) and the scheduler. Not the step
// count nor the guidance: each sample keeps its own timestep, step count and guidance in the
// model's running batch, so Fast and Quality share UNet calls.
struct batch_key {
  std::string model;
  int32_t width = 0;
  int32_t height = 0;
  std::string scheduler;

  friend bool operator==(const batch_key& a, const batch_key& b) {
    return a.model == b.model && a.width == b.width && a.height == b.height &&
           a.scheduler == b.scheduler;
  }
  friend bool operator!=(const batch_key& a, const batch_key& b) { return !(a == b); }
  friend bool operator<(const batch_key& a, const batch_key& b) {
    if (a.model != b.model) return a.model < b.model;
    if (a.width != b.width) return a.width < b.width;
    if (a.height != b.height) return a.height < b.height;
    return a.scheduler < b.scheduler;
  }
};

// The key of a request to a model.
batch_key batch_key_of(const std::string& model, const model::sample_request& request);
inline batch_key batch_key_of(const sample_task& task) {
  return batch_key_of(task.model, task.request);
}
// "muse-tiny/64x64/ddim", for the log ("64x64/ddim" without a model).
std::string to_string(const batch_key& key);

// Samples that share a batch key, dispatched together.
struct batch {
  uint64_t id = 0;
  batch_key key;
  std::vector<sample_task> samples;
};

// A worker's running totals, sent along with its results.
struct worker_counters {
  uint64_t model_calls = 0;   // step() calls (one UNet call for the whole running batch)
  uint64_t sample_steps = 0;  // denoising steps summed over samples
  uint64_t steps_saved = 0;   // steps not run because their sample was cancelled
  uint64_t images = 0;
  double busy_s = 0;  // seconds the model thread had a batch running (text encoding and steps)
  // step() calls and their busy seconds by the samples in the call (index: samples - 1).
  std::vector<uint64_t> calls_by_rows;
  std::vector<double> busy_s_by_rows;
};

// failure codes travel as integers: 0 = images, 1 + failure otherwise.
struct sample_result {
  sample_id id = 0;
  std::string png;
  uint64_t seed = 0;
  int32_t steps = 0;
  double wait_ms = 0;       // on the worker before joining a running batch
  double inference_ms = 0;  // from joining the batch to the encoded image
  uint8_t failure_code = 0;
  std::string message;
};

struct sample_progress {
  sample_id id = 0;
  int32_t step = 0;
  int32_t total = 0;
  std::string preview_png;  // a live preview on the steps the sample asked for; else ""
};

// Where a worker runs and what it serves; everything a GPU node needs to spawn one.
struct worker_options {
  std::string id;  // "w1", stable across restarts of the same slot
  std::string node = "local";
  std::string device = "cpu";
  std::string model_name;         // which of the config's models (its batches' key.model)
  model::model_settings model;    // that model's settings, as the config gives them
  int32_t workers_on_device = 1;  // the node's slots_per_device, sharing the memory budget
  int32_t max_batch_size = 8;
  bool step_level = true;
  // The actor ids of the other workers the gateway counts on the same node (draining ones too).
  // A GPU node stops every worker it holds that is not among them: one the gateway gave up on
  // (in a partition) that would otherwise run beside its replacement.
  std::vector<uint64_t> node_peers;
};

// A worker's answer to load: what it serves.
struct worker_info {
  std::string id;
  std::string model_name;
  model::model_limits limits;
};

// How an order ended, for the stats actor.
struct order_record {
  std::string model;
  uint8_t failure_code = 0;
  uint32_t images = 0;
  double queue_ms = 0;
  double inference_ms = 0;
  double total_ms = 0;
};

uint8_t to_code(const std::optional<failure>& f);
std::optional<failure> from_code(uint8_t code);

// An order with the callbacks of its client; stays inside the gateway process.
struct order_ticket {
  generate_order order;
  outcome_callback done;
  progress_callback progress;
};

// A stats request with the callback that answers it; stays inside the gateway process.
struct stats_ticket {
  stats_callback done;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sample_task& x) {
  return f(caf::meta::type_name("sample_task"), x.id, x.order_id, x.model, x.request, x.attempts);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_key& x) {
  return f(caf::meta::type_name("batch_key"), x.model, x.width, x.height, x.scheduler);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch& x) {
  return f(caf::meta::type_name("batch"), x.id, x.key, x.samples);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_counters& x) {
  return f(caf::meta::type_name("worker_counters"), x.model_calls, x.sample_steps, x.steps_saved,
           x.images, x.busy_s, x.calls_by_rows, x.busy_s_by_rows);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sample_result& x) {
  return f(caf::meta::type_name("sample_result"), x.id, x.png, x.seed, x.steps, x.wait_ms,
           x.inference_ms, x.failure_code, x.message);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sample_progress& x) {
  return f(caf::meta::type_name("sample_progress"), x.id, x.step, x.total, x.preview_png);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_options& x) {
  return f(caf::meta::type_name("worker_options"), x.id, x.node, x.device, x.model_name, x.model,
           x.workers_on_device, x.max_batch_size, x.step_level, x.node_peers);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("worker_info"), x.id, x.model_name, x.limits);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_record& x) {
  return f(caf::meta::type_name("order_record"), x.model, x.failure_code, x.images, x.queue_ms,
           x.inference_ms, x.total_ms);
}
// Never serialized: the callbacks live in the gateway process only.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_ticket& x) {
  return f(caf::meta::type_name("order_ticket"), x.order.id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stats_ticket&) {
  return f(caf::meta::type_name("stats_ticket"));
}

// The stats (stats_snapshot.hpp) stay in the gateway process, but every message type is
// inspectable. std::optional as CAF 0.17 inspects its own optional: a flag, then the value.
template <class T>
struct optional_field {
  bool& present;
  T& value;
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, optional_field& x) {
    return x.present ? f(x.value) : f();
  }
};
template <class Inspector, class T>
std::enable_if_t<Inspector::reads_state, typename Inspector::result_type> inspect(
    Inspector& f, std::optional<T>& x) {
  return x ? f(true, *x) : f(false);
}
template <class Inspector, class T>
std::enable_if_t<Inspector::writes_state, typename Inspector::result_type> inspect(
    Inspector& f, std::optional<T>& x) {
  bool present = false;
  T value{};
  optional_field<T> field{present, value};
  auto guard = caf::detail::make_scope_guard([&] {
    if (present)
      x = std::move(value);
    else
      x.reset();
  });
  return f(present, field);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_figures& x) {
  return f(caf::meta::type_name("queue_figures"), x.depth, x.max, x.keys, x.arrivals_per_s,
           x.arrivals_total, x.batcher_depth, x.balancer_backlog, x.batcher_depth_by_model,
           x.arrivals_by_model);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_figures& x) {
  return f(caf::meta::type_name("worker_figures"), x.id, x.model, x.node, x.device, x.state,
           x.in_flight, x.batches_done, x.images_done, x.mean_batch_size, x.steps_done,
           x.steps_saved, x.model_calls, x.starts, x.images_per_s, x.busy_s, x.image_steps,
           x.calls_by_rows, x.busy_s_by_rows);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_pool_figures& x) {
  return f(caf::meta::type_name("worker_pool_figures"), x.ready, x.total, x.capacity_per_worker,
           x.list, x.backlog_by_model);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_summary& x) {
  return f(caf::meta::type_name("latency_summary"), x.p50, x.p95, x.p99, x.count);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_figures& x) {
  return f(caf::meta::type_name("order_figures"), x.accepted, x.completed, x.failed, x.open);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_figures& x) {
  return f(caf::meta::type_name("batch_figures"), x.done, x.images, x.mean_size, x.size_histogram);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_latencies& x) {
  return f(caf::meta::type_name("order_latencies"), x.queue, x.inference, x.total);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_limits& x) {
  return f(caf::meta::type_name("gateway_model_limits"), x.min_size, x.max_size, x.size_multiple,
           x.default_width, x.default_height, x.max_pixels, x.memory_budget_mb, x.max_steps,
           x.schedulers);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, served_model& x) {
  return f(caf::meta::type_name("served_model"), x.name, x.limits);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_figures& x) {
  return f(caf::meta::type_name("model_figures"), x.name, x.limits, x.ready_workers, x.workers,
           x.queue_depth, x.arrivals_per_s, x.in_flight, x.completed, x.failed, x.images);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scaling_inputs& x) {
  return f(caf::meta::type_name("scaling_inputs"), x.arrivals_per_s, x.queue_depth, x.in_flight,
           x.workers, x.images_per_s_per_worker, x.full_batch_images_per_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scaling_decision& x) {
  return f(caf::meta::type_name("scaling_decision"), x.target, x.action, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scaling_record& x) {
  return f(caf::meta::type_name("scaling_record"), x.model, x.decision, x.inputs, x.policy, x.at_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_figures& x) {
  return f(caf::meta::type_name("node_figures"), x.name, x.state, x.workers, x.since_s,
           x.retry_at_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("node_status"), x.name, x.state, x.workers, x.since, x.retry_at);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stats_snapshot& x) {
  return f(caf::meta::type_name("stats_snapshot"), x.uptime_s, x.ready, x.model, x.models, x.queue,
           x.orders, x.batches, x.latency_ms, x.workers, x.decisions, x.nodes);
}

}  // namespace muse::actors

namespace muse::model {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lora_use& x) {
  return f(caf::meta::type_name("lora_use"), x.name, x.scale);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sample_request& x) {
  return f(caf::meta::type_name("sample_request"), x.prompt, x.negative_prompt, x.steps,
           x.guidance_scale, x.seed, x.width, x.height, x.scheduler, x.init_image.width,
           x.init_image.height, x.init_image.pixels, x.strength, x.original_width,
           x.original_height, x.crop_top, x.crop_left, x.loras, x.preview_every);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_limits& x) {
  return f(caf::meta::type_name("model_limits"), x.min_size, x.max_size, x.size_multiple,
           x.default_width, x.default_height, x.max_pixels, x.memory_budget_mb, x.max_steps,
           x.schedulers);
}
}  // namespace muse::model

namespace muse::actors {

// Atoms (CAF 0.17 atoms hold at most 10 characters).
using load_atom = caf::atom_constant<caf::atom("load")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using load_failed_atom = caf::atom_constant<caf::atom("loadfail")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using drained_atom = caf::atom_constant<caf::atom("drained")>;
using crashed_atom = caf::atom_constant<caf::atom("crashed")>;
using result_atom = caf::atom_constant<caf::atom("result")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using enqueue_atom = caf::atom_constant<caf::atom("enqueue")>;
using backlog_atom = caf::atom_constant<caf::atom("backlog")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using accepted_atom = caf::atom_constant<caf::atom("accepted")>;
using order_done_atom = caf::atom_constant<caf::atom("orderdone")>;
using batch_done_atom = caf::atom_constant<caf::atom("batchdone")>;
using decision_atom = caf::atom_constant<caf::atom("decision")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using pool_atom = caf::atom_constant<caf::atom("pool")>;
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using peer_load_atom = caf::atom_constant<caf::atom("peerload")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;

// What a model worker's client (the balancer) receives from it.
using worker_client_actor =
    caf::typed_actor<caf::reacts_to<result_atom, sample_result, worker_counters>,
                     caf::reacts_to<progress_atom, std::vector<sample_progress>, worker_counters>>;

// A model worker: loads its model on its own thread, runs batches there.
using worker_actor = caf::typed_actor<
    caf::replies_to<load_atom>::with<worker_info>,  // answered once the model is loaded
    caf::reacts_to<run_atom, batch>,                // results go to the sender (a client)
    caf::reacts_to<cancel_atom, std::vector<sample_id>>,
    caf::reacts_to<drain_atom>,  // finish what it holds, then quit
    // From the worker's own model thread:
    caf::reacts_to<loaded_atom, worker_info>, caf::reacts_to<load_failed_atom, std::string>,
    caf::reacts_to<crashed_atom, std::string>, caf::reacts_to<drained_atom>,
    caf::reacts_to<result_atom, sample_result, worker_counters>,
    caf::reacts_to<progress_atom, std::vector<sample_progress>, worker_counters>>;

// A worker of the pool as its supervisor counts it; the leading gateway sends its list to the
// other gateways (gateway_peers.hpp), which register each worker with their balancer.
struct pool_worker {
  worker_actor handle;
  worker_options options;
  bool draining = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_worker& x) {
  return f(caf::meta::type_name("pool_worker"), x.handle, x.options, x.draining);
}

using batcher_actor = caf::typed_actor<
    caf::replies_to<enqueue_atom, std::vector<sample_task>>::with<bool>,  // false: queue full
    caf::reacts_to<cancel_atom, std::vector<sample_id>>,
    // From the balancer: samples that left its backlog so far (dispatched or dropped, less those
    // put back after a worker died).
    caf::reacts_to<backlog_atom, uint64_t>, caf::reacts_to<tick_atom>,
    caf::replies_to<snapshot_atom>::with<queue_figures>>;

using ingress_actor = caf::typed_actor<
    caf::reacts_to<submit_atom, order_ticket>, caf::reacts_to<cancel_atom, std::string>,
    caf::reacts_to<timeout_atom, std::string>,
    caf::reacts_to<result_atom, sample_result>,                   // from the balancer
    caf::reacts_to<progress_atom, std::vector<sample_progress>>,  // from the balancer
    // Answers every open order with shutting_down; replies how many there were.
    caf::replies_to<shutdown_atom>::with<uint64_t>>;

using balancer_actor = worker_client_actor::extend<
    caf::reacts_to<register_atom, ingress_actor, batcher_actor>,  // wiring, once at start
    caf::reacts_to<run_atom, batch>,                              // from the batcher
    caf::reacts_to<cancel_atom, std::vector<sample_id>>,          // from the batcher
    caf::reacts_to<register_atom, worker_actor, worker_options>,  // from the supervisor
    caf::reacts_to<drain_atom, std::string>,  // from the supervisor: no new work for that worker
    caf::reacts_to<tick_atom>, caf::replies_to<snapshot_atom>::with<worker_pool_figures>>;

using stats_actor = caf::typed_actor<
    caf::reacts_to<register_atom, batcher_actor, balancer_actor>,  // wiring, once at start
    caf::reacts_to<accepted_atom>, caf::reacts_to<order_done_atom, order_record>,
    caf::reacts_to<batch_done_atom, uint32_t>, caf::reacts_to<decision_atom, scaling_record>,
    caf::reacts_to<nodes_atom, std::vector<node_status>>,  // the supervisor's, each probe period
    caf::replies_to<snapshot_atom>::with<stats_snapshot>,  // the supervisor's
    caf::reacts_to<snapshot_atom, stats_ticket>>;          // the facade's: answered by callback

using supervisor_actor =
    caf::typed_actor<caf::reacts_to<start_atom>, caf::reacts_to<respawn_atom, std::string>,
                     caf::reacts_to<tick_atom>,   // to itself: time for a scaling decision
                     caf::reacts_to<probe_atom>,  // to itself: probe unreachable nodes
                     caf::replies_to<shutdown_atom>::with<bool>,  // true once every worker is down
                     // Several gateways (gateway_peers.hpp): the workers it counts; workers
                     // another supervisor started, now counted here; quit, leaving every worker
                     // running for the next leader.
                     caf::replies_to<pool_atom>::with<std::vector<pool_worker>>,
                     caf::reacts_to<adopt_atom, std::vector<pool_worker>>,
                     caf::reacts_to<release_atom>>;

// One gateway's link to the others that share the pool (gateway_peers.hpp). Published on the
// gateway's cluster_port.
using gateway_peers_actor = caf::typed_actor<
    // A gateway's announcement, every heartbeat: its place in the config's list, whether it
    // leads, and the leader's pool.
    caf::reacts_to<hello_atom, int32_t, bool, std::vector<pool_worker>>,
    // A follower's load (arrivals, queue, in flight), summed into the leader's scaling inputs.
    caf::reacts_to<peer_load_atom, int32_t, scaling_inputs>,
    caf::reacts_to<tick_atom>,                    // to itself, every heartbeat
    caf::replies_to<shutdown_atom>::with<bool>>;  // leaves the pool to the other gateways

}  // namespace muse::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(muse::actors::order_ticket)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(muse::actors::stats_ticket)

CAF_BEGIN_TYPE_ID_BLOCK(muse, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(muse, (muse::model::sample_request))
CAF_ADD_TYPE_ID(muse, (muse::model::model_limits))
CAF_ADD_TYPE_ID(muse, (muse::actors::sample_task))
CAF_ADD_TYPE_ID(muse, (std::vector<muse::actors::sample_task>))
CAF_ADD_TYPE_ID(muse, (muse::actors::batch))
CAF_ADD_TYPE_ID(muse, (muse::actors::worker_counters))
CAF_ADD_TYPE_ID(muse, (muse::actors::sample_result))
CAF_ADD_TYPE_ID(muse, (muse::actors::sample_progress))
CAF_ADD_TYPE_ID(muse, (std::vector<muse::actors::sample_progress>))
CAF_ADD_TYPE_ID(muse, (std::vector<muse::actors::sample_id>))
CAF_ADD_TYPE_ID(muse, (muse::actors::worker_options))
CAF_ADD_TYPE_ID(muse, (muse::actors::worker_info))
CAF_ADD_TYPE_ID(muse, (muse::actors::order_record))
CAF_ADD_TYPE_ID(muse, (muse::actors::worker_client_actor))
CAF_ADD_TYPE_ID(muse, (muse::actors::queue_figures))
CAF_ADD_TYPE_ID(muse, (muse::actors::worker_pool_figures))
CAF_ADD_TYPE_ID(muse, (muse::actors::scaling_record))
CAF_ADD_TYPE_ID(muse, (muse::actors::stats_snapshot))
CAF_ADD_TYPE_ID(muse, (muse::actors::pool_worker))
CAF_ADD_TYPE_ID(muse, (std::vector<muse::actors::pool_worker>))
CAF_ADD_TYPE_ID(muse, (muse::actors::scaling_inputs))
CAF_ADD_TYPE_ID(muse, (muse::actors::worker_actor))
CAF_ADD_TYPE_ID(muse, (muse::actors::gateway_peers_actor))
CAF_ADD_TYPE_ID(muse, (std::vector<muse::actors::node_status>))
CAF_END_TYPE_ID_BLOCK(muse)

namespace muse::actors {
// Announces every type above (and the model_worker actor type, which GPU nodes spawn remotely).
void add_message_types(caf::actor_system_config& config);
}  // namespace muse::actors
