#include "actors/remote_placement.hpp"

#include <caf/io/all.hpp>

#include "actors/cluster_links.hpp"

namespace muse::actors {

remote_placement::remote_placement(std::vector<config::gpu_node_config> nodes,
                                   config::cluster_config cluster,
                                   std::chrono::seconds spawn_timeout)
    : nodes_(std::move(nodes)), cluster_(std::move(cluster)), spawn_timeout_(spawn_timeout) {}

caf::expected<worker_actor> remote_placement::place(caf::actor_system& system,
                                                    const worker_options& options) {
  const config::gpu_node_config* node = nullptr;
  for (auto& candidate : nodes_)
    if (candidate.name == options.node) node = &candidate;
  if (node == nullptr)
    return caf::make_error(caf::sec::invalid_argument, "no gpu node named " + options.node);
  std::unique_lock<std::mutex> lock(mutex_);
  auto known = connected_.find(node->name);
  caf::node_id id;
  if (known != connected_.end()) {
    id = known->second;
  } else {
    auto connected = connect_cluster_node(system, cluster_, node->host, node->port);
    if (!connected) return std::move(connected.error());
    id = *connected;
    connected_[node->name] = id;
  }
  lock.unlock();
  auto spawned = system.middleman().remote_spawn<worker_actor>(
      id, "model_worker", caf::make_message(options), spawn_timeout_);
  if (!spawned) {
    // The node may have gone; connect afresh next time.
    std::lock_guard<std::mutex> relock(mutex_);
    connected_.erase(node->name);
  }
  return spawned;
}

void remote_placement::linked(const std::string& node, const caf::node_id& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  connected_[node] = id;
}

void remote_placement::forget(const std::string& node) {
  std::lock_guard<std::mutex> lock(mutex_);
  connected_.erase(node);
}

}  // namespace muse::actors
