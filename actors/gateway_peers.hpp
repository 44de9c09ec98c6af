#pragma once
// Several gateways over one pool of workers (the config's `gateways` list): each gateway runs one
// gateway_peers actor, published on its cluster_port. The actors find each other through the
// cluster links (TLS with cluster.tls), say hello every cluster.heartbeat_ms and monitor each
// other. The lowest-ordered live gateway leads: it alone runs the supervisor, which sizes the
// pool from the load of every gateway (each follower reports its own) and places the workers;
// its hello carries the supervisor's list of workers, which every follower registers with its
// own balancer (after linking to the worker's GPU node directly, so that no route to a worker
// passes through another gateway). When the leader goes, the next gateway takes the role and
// adopts the workers it already knows instead of starting a new pool. The protocol, with what
// happens on each death, is written down in README.md beside this file.

#include <memory>

#include "actors/messages.hpp"
#include "actors/placement.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

// Spawns this gateway's peers actor and publishes it on its cluster_port. `index` is its place
// in config.gateways; `placement` places the workers while it leads. Throws std::runtime_error
// when the port cannot be opened.
gateway_peers_actor start_gateway_peers(caf::actor_system& system,
                                        const config::deployment_config& config, int32_t index,
                                        std::shared_ptr<worker_placement> placement,
                                        balancer_actor balancer, stats_actor stats);

// The first sample id of gateway `index`: gateways sharing a worker must not send it two samples
// of one id, and a restarted gateway must not reuse its previous incarnation's ids.
sample_id first_sample_id_of(int32_t index);

}  // namespace muse::actors
