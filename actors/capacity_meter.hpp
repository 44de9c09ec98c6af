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
// That figure is measured at the batch sizes the load gave: below saturation batches are smaller
// and it reads low. What a worker serves in full batches (what a pool sized to the load will run:
// its queue fills the batches) comes from the workers' model calls and busy seconds counted by the
// samples in the call: the seconds of a call with max_batch_size samples (measured, or the
// straight line through the smaller calls extrapolated to it), so it is known under light load too.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "actors/stats_snapshot.hpp"

namespace muse::actors {

class capacity_meter {
 public:
  // Images one worker finishes per busy second; 0 until a worker has finished an image.
  double update(const worker_pool_figures& pool);
  // What the last update answered.
  double last_measured() const { return last_measured_; }
  // Images one worker finishes per busy second in full batches of max_batch_size (the length of
  // the workers' by-row counters), as of the last update; 0 while unknown (fewer than two batch
  // sizes seen and none full, or no image finished yet).
  double full_batch_measured() const { return full_batch_; }

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
  double full_batch_ = 0;
};

// The seconds of one model call with as many samples as the counters have rows (index: samples
// - 1; `busy_s_by_rows[i]` the seconds of `calls_by_rows[i]` calls): the mean of the full calls
// when there were any, else the least-squares line through the mean call of each size (weighted by
// calls) at the full size, never below the largest size's mean; 0 when no call was full and fewer
// than two sizes were seen. Shared with the simulator, which counts whole batches as calls.
double full_call_seconds(const std::vector<uint64_t>& calls_by_rows,
                         const std::vector<double>& busy_s_by_rows);

// The load a stats snapshot shows, as the scaling policy reads it: arrivals, samples waiting and
// running, and one worker's throughput from `capacity` (updated with the snapshot's workers; its
// last measure when the snapshot has none). `workers` is left for the caller: the supervisor
// counts its own, a follower gateway none.
scaling_inputs measured_load(const stats_snapshot& stats, capacity_meter& capacity);

// The snapshot as one model's scaling sees it: its arrivals, the samples of it waiting in the
// batcher and the balancer's backlog, and its workers (the rest is left out).
stats_snapshot of_model(const stats_snapshot& stats, const std::string& model);

}  // namespace muse::actors
