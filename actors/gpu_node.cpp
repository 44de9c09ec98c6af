#include "actors/gpu_node.hpp"

#include <pthread.h>
#include <signal.h>

#include <caf/io/all.hpp>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "actors/cluster_links.hpp"
#include "actors/log.hpp"
#include "actors/messages.hpp"
#include "actors/model_worker.hpp"
#include "actors/system_setup.hpp"

namespace muse::actors {
namespace {

// The workers the gateway spawned here, so that a signal can drain them.
class spawned_workers {
 public:
  void add(const worker_actor& worker) {
    std::lock_guard<std::mutex> lock(mutex_);
    workers_.push_back(caf::actor_cast<caf::weak_actor_ptr>(worker));
  }
  std::vector<worker_actor> alive() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<worker_actor> result;
    for (auto& weak : workers_)
      if (auto strong = weak.lock()) result.push_back(caf::actor_cast<worker_actor>(strong));
    return result;
  }

 private:
  std::mutex mutex_;
  std::vector<caf::weak_actor_ptr> workers_;
};

}  // namespace

int run_gpu_node(const config::deployment_config& config, const std::string& name) {
  const config::gpu_node_config* node = nullptr;
  for (auto& candidate : config.gpu_nodes)
    if (candidate.name == name) node = &candidate;
  if (node == nullptr) {
    std::string known;
    for (auto& candidate : config.gpu_nodes) known += (known.empty() ? "" : ", ") + candidate.name;
    std::cerr << "muse-node: no gpu node named '" << name << "' in the config (it has: " << known
              << ")" << std::endl;
    return 2;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto workers = std::make_shared<spawned_workers>();
  caf::actor_system_config system_config;
  // add_message_types(), with a hook on "model_worker" that remembers every worker spawned here.
  system_config.add_message_types<caf::id_block::muse>();
  add_model_worker_type(system_config, [workers](const worker_actor& w) { workers->add(w); });
  configure_actor_system(system_config, config.cluster);
  caf::actor_system system{system_config};

  auto opened = open_cluster_port(system, config.cluster, node->host, uint16_t(node->port));
  if (!opened) {
    std::cerr << "muse-node: gpu node " << name << ": cannot open " << node->host << ":"
              << node->port << ": " << system.render(opened.error()) << std::endl;
    return 1;
  }
  std::cout << "muse-node: gpu node " << name << " listening on " << node->host << ":" << *opened
            << std::endl;
  log_info("gpu-node", name + ": " + std::to_string(node->devices.size() * node->slots_per_device) +
                           " slots; waiting for the gateway");

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  auto alive = workers->alive();
  log_info("gpu-node", name + ": draining " + std::to_string(alive.size()) + " workers");
  {
    caf::scoped_actor self{system};
    for (auto& worker : alive) {
      self->monitor(worker);
      self->send(worker, drain_atom::value);
    }
    for (size_t down = 0; down < alive.size();)
      self->receive([&](caf::down_msg&) { ++down; },
                    caf::after(std::chrono::milliseconds(
                        config.gateway.request_timeout_s * 1000 + 1000)) >>
                        [&] {
                          log_warning("gpu-node", name + ": workers did not drain in time");
                          down = alive.size();
                        });
  }
  log_info("gpu-node", name + ": stopped");
  return 0;
}

}  // namespace muse::actors
