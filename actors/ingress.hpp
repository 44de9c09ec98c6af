#pragma once
// The ingress: where an order enters the actor system. Splits it into samples (a sample_task
// each), admits them through the batcher (all or none), collects their results, enforces the
// deadline, handles cancel, reports progress, and answers every order exactly once: images, or a
// failure. Orders live only here; the callbacks run on this actor's thread.

#include <memory>

#include "actors/messages.hpp"
#include "actors/shared_status.hpp"

namespace muse::actors {

// first_sample_id: the first sample's id; gateways sharing workers count from different ones,
// since a worker tells samples apart by id.
ingress_actor spawn_ingress(caf::actor_system& system, batcher_actor batcher, stats_actor stats,
                            std::shared_ptr<shared_status> status, sample_id first_sample_id = 1);

}  // namespace muse::actors
