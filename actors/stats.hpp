#pragma once
// The stats actor: counts orders and batches, keeps latency percentiles and the scaling
// decisions, and answers a typed snapshot (stats_snapshot.hpp) that also holds the batcher's
// queue figures and the balancer's per-worker figures, asked for at snapshot time. http/ turns it
// into JSON (the keys listed in README.md: only ever added, never renamed) and Prometheus text.

#include <memory>

#include "actors/messages.hpp"
#include "actors/shared_status.hpp"

namespace muse::actors {

stats_actor spawn_stats(caf::actor_system& system, std::shared_ptr<shared_status> status);

}  // namespace muse::actors
