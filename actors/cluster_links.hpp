#pragma once
// The links between the processes of a cluster, the same on the gateway and on every GPU node:
// heartbeat and connection timeout from the config (both off by default in CAF 0.17, so a silent
// peer would never count as dead), and, with cluster.tls, mutual TLS through CAF's openssl
// module: each side presents its certificate and accepts only peers signed by the CA, so a node
// without a valid certificate cannot join.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/node_id.hpp>
#include <set>
#include <string>

#include "cluster_config/config.hpp"

namespace muse::actors {

// Before the actor system starts; loads the io middleman (and openssl with TLS).
void configure_cluster_links(caf::actor_system_config& system_config,
                             const config::cluster_config& cluster);

// Listens on host:port for the other processes (port 0: any free one); the port opened.
caf::expected<uint16_t> open_cluster_port(caf::actor_system& system,
                                          const config::cluster_config& cluster,
                                          const std::string& host, uint16_t port);

// Connects to the process listening on host:port; its node id (for remote_spawn).
caf::expected<caf::node_id> connect_cluster_node(caf::actor_system& system,
                                                 const config::cluster_config& cluster,
                                                 const std::string& host, uint16_t port);

// The actor that opens and connects the links (the openssl module's with TLS), for an actor that
// connects without blocking: request(connect_atom, host, port) answers (node_id, the actor
// published on that port, its signatures).
caf::io::middleman_actor cluster_link_manager(caf::actor_system& system,
                                              const config::cluster_config& cluster);

// Listens on host:port like open_cluster_port, with `whom` as the actor a connecting peer gets.
caf::expected<uint16_t> publish_on_cluster_port(caf::actor_system& system,
                                                const config::cluster_config& cluster,
                                                caf::strong_actor_ptr whom,
                                                std::set<std::string> signatures,
                                                const std::string& host, uint16_t port);

}  // namespace muse::actors
