#pragma once
// The balancer: gives each batch to a worker chosen by the policy (balancer_policy.hpp), tracks
// the samples in flight per worker, forwards results and progress to the ingress.
//
// Held batches: a batch that no worker can take waits here, first in, first out. While workers
// are merely busy it waits as long as it takes (the order's deadline, enforced by the ingress,
// bounds it). While NO worker is ready (all loading, dead or restarting) a batch is held for at
// most no_worker_grace (5 s), then its samples fail with no_worker: long enough to ride over a
// worker restart, short enough to answer 503 rather than hold clients until their deadline.
//
// A worker that dies: its samples in flight go back to the front of the queue, to another
// worker; a sample whose workers died max_attempts (3) times fails with internal, so that one
// poisonous request cannot kill every worker in turn.

#include <chrono>
#include <memory>

#include "actors/messages.hpp"
#include "actors/shared_status.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

constexpr std::chrono::milliseconds no_worker_grace{5000};
constexpr uint32_t max_attempts = 3;

// Throws std::invalid_argument for an unknown balancer.policy.
balancer_actor spawn_balancer(caf::actor_system& system, const config::deployment_config& config,
                              stats_actor stats, std::shared_ptr<shared_status> status);

}  // namespace muse::actors
