#pragma once
// How many workers the supervisor wants, decided once per autoscale.interval_s from what the
// stats saw in the last interval. A pure class (no clock, no actors) so that every rule is
// unit-tested. Hysteresis: growing happens at once, shrinking only after scale_down_after low
// intervals in a row, and one worker at a time, so a short lull does not drain a worker that the
// next burst needs.

#include <string>

#include "actors/stats_snapshot.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

// scaling_inputs and scaling_decision are in stats_snapshot.hpp: the stats keep every decision.
class scaling_policy {
 public:
  // `slots`: the workers all nodes can hold; the target never exceeds it nor max_workers.
  scaling_policy(config::autoscale_config settings, int max_batch_size, int slots);

  scaling_decision decide(const scaling_inputs& inputs);

  int upper_bound() const { return upper_; }
  int lower_bound() const { return settings_.min_workers; }

 private:
  // The worker count the inputs call for, before hysteresis, and why.
  int wanted(const scaling_inputs& inputs, std::string& why) const;

  config::autoscale_config settings_;
  int max_batch_size_;
  int upper_;
  int low_intervals_ = 0;
};

}  // namespace muse::actors
