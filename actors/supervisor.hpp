#pragma once
// The supervisor: starts one worker per configured slot (gpu_nodes[i].devices[j] x
// slots_per_device; one cpu worker when no GPU node is configured), registers each with the
// balancer, monitors them and restarts one that dies, with a backoff that doubles per failure in
// a row (0.5 s .. 30 s; a worker that lived a minute starts the count afresh). shutdown drains
// every worker (finish what it holds, then quit) and answers once all are down; workers still
// alive when the supervisor goes are killed.

#include <memory>
#include <vector>

#include "actors/messages.hpp"
#include "actors/placement.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

// The worker slots of a deployment, ids "w1", "w2", ... in config order.
std::vector<worker_options> worker_slots(const config::deployment_config& config);

supervisor_actor spawn_supervisor(caf::actor_system& system, std::vector<worker_options> slots,
                                  std::shared_ptr<worker_placement> placement,
                                  balancer_actor balancer);

}  // namespace muse::actors
