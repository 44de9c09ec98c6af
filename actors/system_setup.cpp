#include "actors/system_setup.hpp"

#include "actors/cluster_links.hpp"

namespace muse::actors {

void configure_actor_system(caf::actor_system_config& system_config,
                            const config::cluster_config& cluster) {
  system_config.set("scheduler.policy", caf::atom("sharing"));
  configure_cluster_links(system_config, cluster);
}

}  // namespace muse::actors
