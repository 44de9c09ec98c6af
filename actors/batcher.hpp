#pragma once
// The batcher: takes an order's samples from the ingress (all or none: past max_queue the order
// is refused at once), keeps one queue per batch key and hands full or overdue queues to the
// balancer as batches. Counts arrivals for the autoscaler.

#include "actors/messages.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

batcher_actor spawn_batcher(caf::actor_system& system, const config::batching_config& config,
                            balancer_actor balancer);

}  // namespace muse::actors
