#include "actors/cluster_links.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <set>

namespace muse::actors {
namespace {

// A peer that neither answers nor refuses must not hold up the caller for long.
constexpr auto link_timeout = std::chrono::seconds(10);

// Where open and connect go: the openssl module's middleman actor with TLS, the plain one else.
caf::io::middleman_actor link_manager(caf::actor_system& system,
                                      const config::cluster_config& cluster) {
  if (cluster.tls) return system.openssl_manager().actor_handle();
  return system.middleman().actor_handle();
}

}  // namespace

void configure_cluster_links(caf::actor_system_config& system_config,
                             const config::cluster_config& cluster) {
  system_config.load<caf::io::middleman>();
  system_config.set("middleman.heartbeat-interval",
                    caf::timespan{std::chrono::milliseconds(cluster.heartbeat_ms)});
  system_config.set("middleman.connection-timeout",
                    caf::timespan{std::chrono::milliseconds(cluster.node_timeout_ms)});
  if (cluster.tls) {
    system_config.load<caf::openssl::manager>();
    system_config.set("openssl.certificate", cluster.tls->certificate);
    system_config.set("openssl.key", cluster.tls->private_key);
    system_config.set("openssl.cafile", cluster.tls->ca_file);
  }
}

caf::expected<uint16_t> open_cluster_port(caf::actor_system& system,
                                          const config::cluster_config& cluster,
                                          const std::string& host, uint16_t port) {
  if (!cluster.tls) return system.middleman().open(port, host.c_str(), true);
  caf::scoped_actor self{system};
  caf::expected<uint16_t> result{caf::sec::runtime_error};
  self->request(link_manager(system, cluster), link_timeout, caf::open_atom::value, port, host,
                true)
      .receive([&](uint16_t actual) { result = actual; },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<caf::node_id> connect_cluster_node(caf::actor_system& system,
                                                 const config::cluster_config& cluster,
                                                 const std::string& host, uint16_t port) {
  // Through the middleman actor with a timeout even without TLS: middleman::connect waits
  // forever on a peer whose kernel accepts the connection but whose process does not answer (a
  // stopped node), and the supervisor that connects would place no worker anywhere meanwhile.
  caf::scoped_actor self{system};
  caf::expected<caf::node_id> result{caf::sec::runtime_error};
  self->request(link_manager(system, cluster), link_timeout, caf::connect_atom::value, host, port)
      .receive(
          [&](caf::node_id& id, caf::strong_actor_ptr&, std::set<std::string>&) { result = id; },
          [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::io::middleman_actor cluster_link_manager(caf::actor_system& system,
                                              const config::cluster_config& cluster) {
  return link_manager(system, cluster);
}

caf::expected<uint16_t> publish_on_cluster_port(caf::actor_system& system,
                                                const config::cluster_config& cluster,
                                                caf::strong_actor_ptr whom,
                                                std::set<std::string> signatures,
                                                const std::string& host, uint16_t port) {
  caf::scoped_actor self{system};
  caf::expected<uint16_t> result{caf::sec::runtime_error};
  self->request(link_manager(system, cluster), link_timeout, caf::publish_atom::value, port,
                std::move(whom), std::move(signatures), host, true)
      .receive([&](uint16_t actual) { result = actual; },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

}  // namespace muse::actors
