#pragma once
// The supervisor: keeps a target number of workers running on the config's nodes
// (gpu_nodes[i].devices x slots_per_device; one local cpu slot when none is configured). It
// starts autoscale.min_workers at once, then every policy tick (tick_s()) asks the stats for the
// latest figures and lets the scaling_policy set the target. A new worker goes to the
// reachable node with the most free slots; a node that refuses is retried after a backoff (0.5 s
// doubling to 30 s), and one it cannot reach is probed every cluster.heartbeat_ms and used at once
// when it answers, so a node that starts late or comes back is used again. A worker that dies
// is replaced (same backoff on its node; a worker that lived a minute starts the count afresh),
// on another node when its own is unreachable. Scaling down drains a worker (the balancer gives
// it no new batch, it finishes what it holds, then quits). Every decision goes to the stats and
// the log. shutdown drains every worker and answers once all are down.

#include <functional>
#include <memory>
#include <vector>

#include "actors/messages.hpp"
#include "actors/placement.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

// With several gateways (gateway_peers.hpp) the supervisor runs on the leading one: it starts
// counting the workers a previous leader left (`adopted`, already registered with this gateway's
// balancer), and adds the other gateways' load to its scaling inputs (`add_peer_load`).
struct shared_pool {
  std::vector<pool_worker> adopted;
  std::function<void(scaling_inputs&)> add_peer_load;
};

supervisor_actor spawn_supervisor(caf::actor_system& system,
                                  const config::deployment_config& config,
                                  std::shared_ptr<worker_placement> placement,
                                  balancer_actor balancer, stats_actor stats,
                                  shared_pool pool = {});

}  // namespace muse::actors
