#pragma once
// What one worker serves, measured from what the workers finished per second of having a batch
// running (their busy seconds), not from one sample's latency: with step-level joining a sample's
// latency says little about how many samples share its steps.
//
// Each update compares the pool's figures with those of the previous update: steps per busy
// second over the interval (lifetime totals when no worker was busy in it), divided by the mean
// step count of the images finished in it (the last measured when none finished), gives images
// per busy second. Counting steps rather than images keeps the figure steady when images finish
// in bursts (a batch of 8 ends at once) or a long batch finishes none in the interval, and weighs
// a mix of step counts (Fast and Quality) as it was served. A pure class (no clock, no actors), so
// it is unit-tested.
//
// The figure is measured at the batch sizes the load gave: below saturation batches are smaller
// and it reads low, which errs towards more workers.

#include <cstdint>
#include <map>
#include <string>

#include "actors/stats_snapshot.hpp"

namespace muse::actors {

class capacity_meter {
 public:
  // Images one worker finishes per busy second; 0 until a worker has finished an image.
  double update(const worker_pool_figures& pool);
  // What the last update answered.
  double last_measured() const { return last_measured_; }

 private:
  struct totals {
    double busy_s = 0;
    uint64_t steps = 0;
    uint64_t images = 0;
    uint64_t image_steps = 0;
  };
  std::map<std::string, totals> last_;  // by worker id, as of the previous update
  double steps_per_image_ = 0;          // the last measured
  double last_measured_ = 0;
};

// The load a stats snapshot shows, as the scaling policy reads it: arrivals, samples waiting and
// running, and one worker's throughput from `capacity` (updated with the snapshot's workers; its
// last measure when the snapshot has none). `workers` is left for the caller: the supervisor
// counts its own, a follower gateway none.
scaling_inputs measured_load(const stats_snapshot& stats, capacity_meter& capacity);

}  // namespace muse::actors
