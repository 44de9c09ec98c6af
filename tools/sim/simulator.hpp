#pragma once
// A deterministic, trace-driven model of one gateway's pool of model workers: requests arrive by
// a trace into one FIFO queue; every idle worker takes up to max_batch_size of them at once and
// serves the batch for the service model's time; a supervisor tick every autoscale.interval_s
// asks an autoscaler for a worker count; new workers serve after a start-up delay; nodes fail.
// The autoscalers "full_batch", "capacity" and "queue_threshold" are muse::actors::scaling_policy
// itself, the class the live supervisor runs, asked every tick_s() as the supervisor asks it. No
// clock, no threads: the same settings give the same result.

#include <cstdint>
#include <string>
#include <vector>

#include "actors/stats_snapshot.hpp"
#include "cluster_config/config.hpp"
#include "tools/sim/model.hpp"

namespace muse::sim {

struct sim_settings {
  // seed | queue_threshold | capacity | full_batch | oracle (scalers.hpp says what each is).
  std::string policy = "full_batch";
  config::autoscale_config autoscale;  // max_workers is set to gpus by simulate()
  int gpus = 10;                       // the pool: the workers all nodes can hold
  int gpus_per_node = 0;               // a failure takes a whole node; 0: 8, or 1 under 16 GPUs
  int max_batch_size = 8;
  service_model service = service_model::h200_sd15_fast();
  double startup_s = 10;         // model load before a new worker serves
  double failures_per_hour = 1;  // nodes lost, at exponential intervals
  double repair_s = 600;         // a lost node's slots come back after this
  double slo_s = 10;             // Fast
  double timeout_s = 120;        // gateway.request_timeout_s: a request waiting longer is dropped
  double rate_window_s = 10;     // the batcher's arrival-rate window (actors/rate_counter.hpp)
  double bin_s = 0.01;           // arrivals are drawn per bin of this length
  uint64_t seed = 1;
  double oracle_beta = 0;  // the oracle staffs load + oracle_beta x sqrt(load) (scalers.hpp)
};

// The supervisor's view at one tick, and what it decided.
struct tick_record {
  double at_s = 0;
  double rate_per_s = 0;  // the trace's true rate then
  actors::scaling_inputs inputs;
  int target = 0;
  int ready = 0;  // workers serving (not starting, not draining)
};

struct sim_result {
  uint64_t requests = 0;
  uint64_t within_slo = 0;
  uint64_t timed_out = 0;  // dropped after timeout_s in the queue
  // Nearest-rank percentiles over every request; a dropped one counts as timeout_s.
  double p50_s = 0, p95_s = 0, p99_s = 0;
  double gpu_hours = 0;  // from a worker's start (model load included) to its stop
  int most_workers = 0;
  int failures = 0;
  std::vector<tick_record> ticks;
  double slo_share() const { return requests ? static_cast<double>(within_slo) / requests : 1.0; }
};

// What the gateway counted over the last interval, as the live stats would have it.
struct interval_figures {
  uint64_t arrivals_in_window = 0;  // over the last rate_window_s (or since start, if shorter)
  double window_s = 0;
  uint64_t queue_depth = 0;
  uint64_t in_flight = 0;
  int workers = 0;           // running or starting, not draining
  uint64_t images_done = 0;  // batches finished in the interval
  double busy_s = 0;         // the time workers spent on those batches
  // Batches (the model's calls here: a batch is one call) and their seconds by size (index:
  // size - 1, up to max_batch_size), over the run, as the workers count them.
  std::vector<uint64_t> calls_by_rows;
  std::vector<double> busy_s_by_rows;
};

// The policy's inputs from those figures: the one place that turns gateway figures into
// scaling_inputs, kept in step with measured_load() in actors/capacity_meter.cpp. A worker's
// capacity is the images it finished per busy second; with no batch finished in the interval the
// last measurement stands (`last_capacity`, 0 while nothing was ever measured). Its capacity in
// full batches is the meter's full_call_seconds() of the counts by size (a call being a whole
// batch here, an image one step).
actors::scaling_inputs scaling_inputs_from(const interval_figures& figures, double last_capacity);

sim_result simulate(const trace& load, const sim_settings& settings);

}  // namespace muse::sim
