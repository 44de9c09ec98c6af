#pragma once
// The stats actor: counts orders and batches, keeps latency percentiles and the scaling
// decisions, and answers a snapshot (JSON text) that also holds the batcher's queue figures and
// the balancer's per-worker figures, asked for at snapshot time. The snapshot's keys are listed
// in README.md; keys are only ever added, never renamed.

#include <memory>

#include "actors/messages.hpp"
#include "actors/shared_status.hpp"

namespace muse::actors {

stats_actor spawn_stats(caf::actor_system& system, std::shared_ptr<shared_status> status);

}  // namespace muse::actors
