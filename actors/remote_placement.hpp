#pragma once
// Workers on GPU nodes (role "gateway"): connects to the node named by options.node through the
// CAF middleman (once per node, again after a failure) and remote_spawns "model_worker" there.

#include <map>
#include <mutex>
#include <vector>

#include "actors/placement.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

class remote_placement : public worker_placement {
 public:
  // spawn_timeout bounds the spawn itself; the model loads after it, answering the balancer.
  remote_placement(std::vector<config::gpu_node_config> nodes, config::cluster_config cluster,
                   std::chrono::seconds spawn_timeout = std::chrono::seconds(10));
  caf::expected<worker_actor> place(caf::actor_system& system,
                                    const worker_options& options) override;
  void forget(const std::string& node) override;
  bool links_nodes() const override { return true; }
  void linked(const std::string& node, const caf::node_id& id) override;

 private:
  std::vector<config::gpu_node_config> nodes_;
  config::cluster_config cluster_;
  std::chrono::seconds spawn_timeout_;
  std::mutex mutex_;
  std::map<std::string, caf::node_id> connected_;  // by node name
};

}  // namespace muse::actors
