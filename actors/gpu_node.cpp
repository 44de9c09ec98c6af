#include "actors/gpu_node.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <caf/io/all.hpp>
#include <iostream>
#include <map>
#include <memory>
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

// The workers the gateway spawned here and have not exited, so that a signal can drain them.
// A spawn names the workers the gateway still counts on this node; any other worker here is one
// it gave up on (the link was lost while this process was stopped or cut off) and would run a
// second time beside its replacement: it is stopped at once. Every change is logged with the
// count, so a node's log shows it never holds more workers than the gateway asked for.
class node_workers : public std::enable_shared_from_this<node_workers> {
 public:
  node_workers(std::string node, size_t slots) : node_(std::move(node)), slots_(slots) {}

  void add(const worker_actor& worker, const worker_options& options) {
    std::vector<worker_actor> stale;
    std::string held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [actor, record] : workers_) {
        bool counted = std::find(options.node_peers.begin(), options.node_peers.end(), actor) !=
                       options.node_peers.end();
        if (counted || record.stopping) continue;
        if (auto strong = record.handle.lock()) {
          record.stopping = true;
          stale.push_back(caf::actor_cast<worker_actor>(strong));
          log_warning("gpu-node", node_ + ": stopping worker " + record.id + " (actor " +
                                      std::to_string(actor) + "): the gateway no longer counts it");
        }
      }
      workers_[worker.id()] = held_worker{options.id, caf::actor_cast<caf::weak_actor_ptr>(worker)};
      held = describe_held();
    }
    // Killed, not drained: the gateway has requeued what they held. Each stops at its next step.
    for (auto& w : stale) caf::anon_send_exit(w, caf::exit_reason::kill);
    auto actor = worker.id();
    auto self = shared_from_this();
    caf::actor_cast<caf::abstract_actor*>(worker)->attach_functor(
        [self, actor](const caf::error&) { self->remove(actor); });
    log_info("gpu-node", node_ + ": worker " + options.id + " (actor " + std::to_string(actor) +
                             ") started; " + held);
  }

  std::vector<worker_actor> alive() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<worker_actor> result;
    for (auto& [actor, record] : workers_)
      if (auto strong = record.handle.lock())
        result.push_back(caf::actor_cast<worker_actor>(strong));
    return result;
  }

 private:
  struct held_worker {
    std::string id;
    caf::weak_actor_ptr handle;
    bool stopping = false;
  };

  // "holds N workers, S slots" (+ "; K stopping"): the ones stopping have been told to and quit
  // at their next step. Called with the mutex held.
  std::string describe_held() const {
    size_t stopping = 0;
    for (auto& [actor, w] : workers_) stopping += w.stopping ? 1 : 0;
    return "holds " + std::to_string(workers_.size()) + " workers, " + std::to_string(slots_) +
           " slots" + (stopping > 0 ? "; " + std::to_string(stopping) + " stopping" : "");
  }

  void remove(caf::actor_id actor) {
    std::string id, held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = workers_.find(actor);
      if (it == workers_.end()) return;
      id = it->second.id;
      workers_.erase(it);
      held = describe_held();
    }
    log_info("gpu-node",
             node_ + ": worker " + id + " (actor " + std::to_string(actor) + ") exited; " + held);
  }

  std::string node_;
  size_t slots_;
  std::mutex mutex_;
  std::map<caf::actor_id, held_worker> workers_;
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

  auto workers = std::make_shared<node_workers>(
      name, node->devices.size() * static_cast<size_t>(node->slots_per_device));
  caf::actor_system_config system_config;
  // add_message_types(), with a hook on "model_worker" that remembers every worker spawned here.
  system_config.add_message_types<caf::id_block::muse>();
  add_model_worker_type(system_config,
                        [workers](const worker_actor& w, const worker_options& options) {
                          workers->add(w, options);
                        });
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
      self->receive(
          [&](caf::down_msg&) { ++down; },
          caf::after(std::chrono::milliseconds(config.gateway.request_timeout_s * 1000 + 1000)) >>
              [&] {
                log_warning("gpu-node", name + ": workers did not drain in time");
                down = alive.size();
              });
  }
  log_info("gpu-node", name + ": stopped");
  return 0;
}

}  // namespace muse::actors
