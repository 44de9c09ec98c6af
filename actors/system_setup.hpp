#pragma once
// How every muse-node process (gateway, GPU node, or both) configures its CAF actor system.
//
// Scheduler: CAF's "sharing" policy, not its default work stealing. Idle work-stealing threads
// poll for work (spinning, then waking every 50 us), and on a CPU worker they take cycles from
// libtorch's OpenMP threads, whose barriers wait for the slowest thread: on two cores the UNet
// step of the built-in model took 7.4-10.4 ms under work stealing against 4.6-6.4 ms with
// sharing or with no actors at all. Sharing threads sleep on a condition variable when idle.
// The stack alone peaks about 10% lower with it (still above 8,000 requests/s on two cores, see
// docs/benchmarks.md), which is far cheaper than a slower model.

#include <caf/actor_system_config.hpp>

#include "cluster_config/config.hpp"

namespace muse::actors {

// Before the actor system starts: the scheduler policy, then the cluster links
// (configure_cluster_links).
void configure_actor_system(caf::actor_system_config& system_config,
                            const config::cluster_config& cluster);

}  // namespace muse::actors
