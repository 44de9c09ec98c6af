#pragma once
// How many workers the supervisor wants, decided every tick_s() from what the stats saw. A pure
// class (no clock, no actors) so that every rule is unit-tested, and so that tools/sim runs it.
//
// full_batch (the default), every autoscale.scale_up_check_s (at most interval_s):
//   load = (arrivals/s + samples waiting / backlog_s) / one worker's images per busy second in
//   full batches (measured: capacity_meter), and it wants ceil(load + sqrt(load)) workers, never
//   fewer than the samples running need (in_flight / max_batch_size). A pool sized to the load
//   runs full batches (its queue fills them), so capacity at full batches, not at the mean batch
//   of the last interval; sqrt(load) is the margin Poisson arrivals need, which at 1,000 GPUs is a
//   few percent where a fixed target utilisation keeps a quarter idle. Up at once; down only
//   after scale_down_after x interval_s of lower need, then straight to the highest need of
//   that time (not one worker at a time, which cannot follow a large pool's evening).
//   docs/benchmarks.md ("Autoscaling at 1,000 GPUs, simulated") has the figures behind it.
// capacity (every interval_s): arrivals plus the samples waiting and running (served within one
//   interval) against one worker's images per busy second at target_utilisation; down one worker
//   after scale_down_after low intervals.
// queue_threshold (every interval_s): the seed's rule, up one when more wait than workers x
//   max_batch_size, down one when all would fit in one worker fewer. Also the rule of the other
//   two until a throughput has been measured.

#include <string>

#include "actors/stats_snapshot.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

// scaling_inputs and scaling_decision are in stats_snapshot.hpp: the stats keep every decision.
class scaling_policy {
 public:
  // `slots`: the workers all nodes can hold; the target never exceeds it nor max_workers.
  scaling_policy(config::autoscale_config settings, int max_batch_size, int slots);

  // Called every tick_s() seconds.
  scaling_decision decide(const scaling_inputs& inputs);
  // How often the supervisor asks: scale_up_check_s for full_batch, interval_s otherwise.
  int tick_s() const { return tick_s_; }

  int upper_bound() const { return upper_; }
  int lower_bound() const { return settings_.min_workers; }

 private:
  // The worker count the inputs call for, before hysteresis, and why.
  int wanted(const scaling_inputs& inputs, std::string& why) const;

  int wanted_full_batch(const scaling_inputs& inputs, std::string& why) const;

  config::autoscale_config settings_;
  int max_batch_size_;
  int upper_;
  int tick_s_;
  int low_ticks_needed_;  // ticks of lower need before scaling down
  int low_ticks_ = 0;     // lower need in a row
  int highest_low_ = 0;   // full_batch: the highest need of those ticks
};

}  // namespace muse::actors
