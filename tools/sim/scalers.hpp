#pragma once
// The autoscalers the simulator compares. Each is asked once per tick for a worker count.
//   full_batch, capacity, queue_threshold: muse::actors::scaling_policy with autoscale.policy set
//     so, the very class the live supervisor runs, asked every tick_s() as the supervisor does
//     (full_batch: autoscale.scale_up_check_s; the others: autoscale.interval_s).
//   seed: the seed's rule (DESIGN.md): every tick, one more worker when the requests not yet
//     answered exceed workers x 12, one fewer when they would fit in (workers - 1) x 12. The
//     write-up says the seed adds or removes by thresholds but gives only the first: the removal
//     threshold is this model's assumption.
//   oracle: knows the trace. At a tick at t it asks for the workers the highest rate in
//     [t, t + interval + start-up] needs, so that what it starts is serving before the load
//     arrives: a = rate / (images/s of a worker in full batches), workers = ceil(a + beta sqrt(a)).
//     With beta = 0 (the default) that is the fewest workers that can keep up at all; on every
//     trace of muse-sim it also answers every request within the SLO. Its GPU-hours are the
//     yardstick. It ticks every autoscale.interval_s.

#include <memory>

#include "actors/stats_snapshot.hpp"
#include "tools/sim/model.hpp"
#include "tools/sim/simulator.hpp"

namespace muse::sim {

class scaler {
 public:
  virtual ~scaler() = default;
  // The worker count wanted from now on; `now` is the tick's time.
  virtual int decide(const actors::scaling_inputs& inputs, double now) = 0;
  // Seconds between ticks.
  virtual int tick_s() const = 0;
};

// Throws std::invalid_argument for an unknown policy.
std::unique_ptr<scaler> make_scaler(const sim_settings& settings, const trace& load);

// The oracle's count for a rate (exposed for the tests).
int oracle_workers(double rate_per_s, const sim_settings& settings);

}  // namespace muse::sim
