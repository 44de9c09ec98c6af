#include "actors/supervisor.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "actors/capacity_meter.hpp"
#include "actors/cluster_links.hpp"
#include "actors/log.hpp"
#include "actors/node_table.hpp"
#include "actors/scaling_policy.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

constexpr auto figures_timeout = std::chrono::seconds(5);

struct node_slots {
  std::string name;
  std::vector<std::string> devices;
  int slots_per_device = 1;
};

struct running_worker {
  worker_options options;
  worker_actor handle;
  clock::time_point started;
  bool draining = false;
};

// One served model's share of the pool: its own policy (bounded by its min_workers and
// max_workers), throughput and target.
struct model_scaling {
  config::model_config model;
  std::optional<scaling_policy> policy;
  capacity_meter capacity;
  int target = 0;
};

struct supervisor_state {
  config::deployment_config config;
  std::vector<model_scaling> models;  // in the config's order
  std::vector<node_slots> nodes;
  std::optional<node_table> node_states;          // reachability and backoff of each node
  std::map<std::string, running_worker> workers;  // by id
  int tick_s = 5;
  std::shared_ptr<worker_placement> placement;
  balancer_actor balancer;
  stats_actor stats;
  bool stopping = false;
  bool reconcile_pending = false;
  std::set<std::string> died;  // ids of workers that died, until replaced or no longer wanted
  std::function<void(scaling_inputs&)> add_peer_load;  // several gateways: their load too
  std::vector<caf::typed_response_promise<bool>> stop_waiters;

  ~supervisor_state() {
    for (auto& [id, w] : workers)
      if (w.handle) caf::anon_send_exit(w.handle, caf::exit_reason::kill);
  }
  static inline const char* name = "supervisor";
};

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

int active_workers(const supervisor_state& st) {
  return static_cast<int>(std::count_if(st.workers.begin(), st.workers.end(),
                                        [](auto& entry) { return !entry.second.draining; }));
}

int active_workers(const supervisor_state& st, const std::string& model) {
  return static_cast<int>(std::count_if(st.workers.begin(), st.workers.end(), [&](auto& entry) {
    return !entry.second.draining && entry.second.options.model_name == model;
  }));
}

int total_target(const supervisor_state& st) {
  int sum = 0;
  for (auto& m : st.models) sum += m.target;
  return sum;
}

// The smallest "wN" not in use: a replacement takes its predecessor's id, so the stats' worker
// list stays as long as the most workers ever running at once.
std::string free_id(const supervisor_state& st) {
  for (int n = 1;; ++n) {
    auto id = "w" + std::to_string(n);
    if (st.workers.count(id) == 0) return id;
  }
}

// The reachable node with the most free slots and its least used device; nullptr when none.
node_slots* choose_node(supervisor_state& st, std::string& device, clock::time_point now) {
  node_slots* best = nullptr;
  int best_free = 0;
  for (auto& node : st.nodes) {
    if (!st.node_states->may_place(node.name, now)) continue;
    std::map<std::string, int> used;
    int on_node = 0;
    for (auto& [id, w] : st.workers)
      if (w.options.node == node.name) {
        ++used[w.options.device];
        ++on_node;
      }
    int free = static_cast<int>(node.devices.size()) * node.slots_per_device - on_node;
    if (free <= best_free) continue;
    best = &node;
    best_free = free;
    // A device may be listed more than once (more slots on it).
    std::map<std::string, int> capacity;
    for (auto& d : node.devices) capacity[d] += node.slots_per_device;
    device.clear();
    int most_free = 0;
    for (auto& [d, slots] : capacity)
      if (slots - used[d] > most_free) {
        most_free = slots - used[d];
        device = d;
      }
  }
  return best && !device.empty() ? best : nullptr;
}

void answer_stop_waiters_if_done(supervisor_pointer self) {
  auto& st = self->state;
  if (!st.workers.empty()) return;
  for (auto& waiter : st.stop_waiters) waiter.deliver(true);
  st.stop_waiters.clear();
}

void schedule_reconcile(supervisor_pointer self, std::chrono::milliseconds delay) {
  if (self->state.reconcile_pending) return;
  self->state.reconcile_pending = true;
  self->delayed_send(self, delay, respawn_atom::value, std::string{});
}

// Starts workers of one model until its running ones match its target (within the pool's
// autoscale.max_workers); false when no slot could be found now (a retry is scheduled).
bool start_workers(supervisor_pointer self, model_scaling& m) {
  auto& st = self->state;
  while (active_workers(st, m.model.name) < m.target &&
         active_workers(st) < st.config.autoscale.max_workers) {
    auto now = clock::now();
    std::string device;
    auto* node = choose_node(st, device, now);
    if (node == nullptr) {
      // Every node is full, backing off or unreachable: try again when the first backoff ends
      // (an unreachable node that answers a probe calls for a reconcile itself).
      auto retry = st.node_states->next_retry(now);
      if (retry > now)
        schedule_reconcile(self, std::chrono::duration_cast<std::chrono::milliseconds>(
                                     retry - now + std::chrono::milliseconds(1)));
      return false;
    }
    auto options = make_worker_options(st.config, m.model, free_id(st), node->name, device);
    for (auto& [id, w] : st.workers)
      if (w.options.node == node->name) options.node_peers.push_back(w.handle.id());
    auto placed = st.placement->place(self->system(), options);
    if (!placed) {
      auto delay = st.node_states->place_failed(node->name, clock::now());
      log_warning("supervisor", "cannot start worker " + options.id + " on " + node->name + ": " +
                                    self->system().render(placed.error()) + "; node retried in " +
                                    std::to_string(delay.count()) + " ms");
      continue;
    }
    auto& w = st.workers[options.id];
    w.options = options;
    w.handle = *placed;
    w.started = clock::now();
    st.node_states->placed(node->name, w.started);
    self->monitor(w.handle);
    log_info("supervisor", "started worker " + options.id + " (" + options.model_name + ") on " +
                               options.node + "/" + options.device);
    self->send(st.balancer, register_atom::value, w.handle, options);
  }
  return true;
}

// Drains workers of one model until its running ones match its target.
void drain_workers(supervisor_pointer self, model_scaling& m) {
  auto& st = self->state;
  while (active_workers(st, m.model.name) > m.target) {
    // The newest worker goes first: the oldest have the longest measured record.
    running_worker* newest = nullptr;
    for (auto& [id, w] : st.workers)
      if (!w.draining && w.options.model_name == m.model.name &&
          (newest == nullptr || w.started > newest->started))
        newest = &w;
    newest->draining = true;
    log_info("supervisor", "draining worker " + newest->options.id + " (" + m.model.name + ") on " +
                               newest->options.node);
    self->send(st.balancer, drain_atom::value, newest->options.id);
  }
}

// Starts or drains workers until each model's running ones match its target. Drains first, so
// that a model scaling down leaves its slots to one scaling up.
void reconcile(supervisor_pointer self) {
  auto& st = self->state;
  if (st.stopping) return;
  for (auto& m : st.models) drain_workers(self, m);
  for (auto& m : st.models)
    if (!start_workers(self, m)) return;
  // A worker that died and that the target no longer needs: the balancer forgets it (drain of a
  // dead worker), so it does not stay in the stats as dead.
  if (active_workers(st) < std::min(total_target(st), st.config.autoscale.max_workers)) return;
  for (auto& id : st.died)
    if (st.workers.count(id) == 0) self->send(st.balancer, drain_atom::value, id);
  st.died.clear();
}

// The policy's inputs for each model from a stats snapshot (and, with one model, the other
// gateways' load), each model's decision kept.
void decide(supervisor_pointer self, const stats_snapshot& stats) {
  auto& st = self->state;
  if (st.stopping) return;
  for (auto& m : st.models) {
    scaling_record record;
    record.model = m.model.name;
    auto own = st.models.size() == 1 ? stats : of_model(stats, m.model.name);
    record.inputs = measured_load(own, m.capacity);
    record.inputs.workers = active_workers(st, m.model.name);
    // The other gateways report their load for the whole pool, not by model.
    if (st.add_peer_load && st.models.size() == 1) st.add_peer_load(record.inputs);
    record.decision = m.policy->decide(record.inputs);
    record.policy = st.config.autoscale.policy;
    record.at_s = stats.uptime_s;
    const auto& decision = record.decision;
    // A change at info level; a hold (every scale-up check, 5 s by default) only at debug level.
    const auto line = std::string("scaling ") + m.model.name + " " + to_string(decision.action) +
                      " to " + std::to_string(decision.target) + ": " + decision.reason;
    if (decision.action == scaling_action::hold)
      log_debug("supervisor", line);
    else
      log_info("supervisor", line);
    m.target = decision.target;
    self->send(st.stats, decision_atom::value, std::move(record));
  }
  reconcile(self);
}

// Counts workers another supervisor started (the gateway that led before). They are registered
// with the balancer already; a dead one's down message comes at once and restarts its slot.
void adopt(supervisor_pointer self, const std::vector<pool_worker>& workers) {
  auto& st = self->state;
  for (auto& worker : workers) {
    if (!worker.handle || st.workers.count(worker.options.id) != 0) continue;
    auto& w = st.workers[worker.options.id];
    w.options = worker.options;
    w.handle = worker.handle;
    w.started = clock::now();
    w.draining = worker.draining;
    st.node_states->placed(w.options.node, w.started);
    self->monitor(w.handle);
    log_info("supervisor", "adopted worker " + w.options.id + " on " + w.options.node);
  }
  for (auto& m : st.models)
    m.target = std::max(m.target, std::min(active_workers(st, m.model.name), m.model.max_workers));
}

// The node table as the stats show it.
void report_nodes(supervisor_pointer self) {
  auto& st = self->state;
  std::map<std::string, int> counted;
  for (auto& [id, w] : st.workers) ++counted[w.options.node];
  self->send(st.stats, nodes_atom::value, st.node_states->statuses(clock::now(), counted));
}

// Connects to each unreachable node whose probe is due, without waiting for it: a node that
// answers is used again at once, rather than when its backoff happens to end.
void probe_nodes(supervisor_pointer self) {
  auto& st = self->state;
  auto links = cluster_link_manager(self->system(), st.config.cluster);
  auto timeout = std::chrono::milliseconds(st.config.cluster.node_timeout_ms);
  for (auto& name : st.node_states->probes_due(clock::now())) {
    auto node = std::find_if(st.config.gpu_nodes.begin(), st.config.gpu_nodes.end(),
                             [&](auto& n) { return n.name == name; });
    if (node == st.config.gpu_nodes.end()) continue;  // only a cluster's nodes are probed
    self->request(links, timeout, caf::connect_atom::value, node->host, node->port)
        .then(
            [=](caf::node_id& id, caf::strong_actor_ptr&, std::set<std::string>&) {
              self->state.placement->linked(name, id);  // the next spawn there uses this link
              if (!self->state.node_states->probe_answered(name, clock::now())) return;
              log_info("supervisor", "node " + name + " answers again");
              report_nodes(self);
              reconcile(self);
            },
            [=](caf::error& error) {
              const bool refused =
                  error.category() == caf::atom("system") &&
                  error.code() == static_cast<uint8_t>(caf::sec::disconnect_during_handshake);
              if (self->state.node_states->probe_failed(name, clock::now(), refused))
                log_warning("supervisor", "node " + name + " does not answer (" +
                                              self->system().render(error) +
                                              "); probed until it does");
            });
  }
}

supervisor_actor::behavior_type supervisor(supervisor_pointer self,
                                           config::deployment_config config,
                                           std::shared_ptr<worker_placement> placement,
                                           balancer_actor balancer, stats_actor stats,
                                           shared_pool pool) {
  auto& st = self->state;
  for (auto& node : config.gpu_nodes)
    st.nodes.push_back(node_slots{node.name, node.devices, node.slots_per_device});
  if (st.nodes.empty()) st.nodes.push_back(node_slots{"local", {"cpu"}, 1});
  int slots = 0;
  for (auto& node : st.nodes)
    slots += static_cast<int>(node.devices.size()) * node.slots_per_device;
  int kept = 0;  // the models' min_workers, in config order, as far as the slots go
  for (auto& model : config.models) {
    auto settings = config.autoscale;
    settings.min_workers = model.min_workers;
    settings.max_workers = model.max_workers;
    auto& m = st.models.emplace_back();
    m.model = model;
    m.policy.emplace(settings, config.batching.max_batch_size, slots);
    m.target = std::max(0, std::min(model.min_workers, slots - kept));
    kept += m.target;
    st.tick_s = m.policy->tick_s();
  }
  st.config = std::move(config);
  st.placement = std::move(placement);
  st.balancer = std::move(balancer);
  st.stats = std::move(stats);
  st.add_peer_load = std::move(pool.add_peer_load);
  std::vector<std::string> names;
  for (auto& node : st.nodes) names.push_back(node.name);
  st.node_states.emplace(names, st.placement->links_nodes(), clock::now(),
                         std::chrono::milliseconds(st.config.cluster.heartbeat_ms));
  adopt(self, pool.adopted);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    for (auto it = st.workers.begin(); it != st.workers.end(); ++it) {
      auto& w = it->second;
      if (w.handle.address() != down.source) continue;
      auto id = it->first;
      auto node_name = w.options.node;
      bool drained = w.draining;
      auto lived = clock::now() - w.started;
      st.workers.erase(it);
      if (st.stopping) {
        log_info("supervisor", "worker " + id + " stopped");
        answer_stop_waiters_if_done(self);
        return;
      }
      if (drained) {
        log_info("supervisor", "worker " + id + " drained and stopped");
        reconcile(self);  // its slot may be what another model waits for
        return;
      }
      st.died.insert(id);
      st.placement->forget(node_name);
      // CAF kills the proxies of a node whose link is lost with this reason: the node is probed
      // until it answers rather than tried by placement.
      bool link_lost = down.reason == caf::exit_reason::remote_link_unreachable;
      auto delay = st.node_states->worker_died(node_name, clock::now(), link_lost, lived);
      auto retry = link_lost ? "its node is probed until it answers"
                             : "its node is retried in " + std::to_string(delay.count()) + " ms";
      log_warning("supervisor", "worker " + id + " on " + node_name + " died (" +
                                    self->system().render(down.reason) + "); " + retry);
      // At once: another node may have a free slot; this one waits out its backoff.
      self->send(self, respawn_atom::value, std::string{});
      return;
    }
  });
  auto interval = std::chrono::seconds(self->state.tick_s);
  return {
      [=](start_atom) {
        self->send(self, probe_atom::value);
        reconcile(self);
        self->delayed_send(self, interval, tick_atom::value);
      },
      [=](probe_atom) {
        if (self->state.stopping) return;
        self->delayed_send(self, std::chrono::milliseconds(self->state.config.cluster.heartbeat_ms),
                           probe_atom::value);
        probe_nodes(self);
        report_nodes(self);
      },
      [=](respawn_atom, std::string&) {
        self->state.reconcile_pending = false;
        reconcile(self);
      },
      [=](tick_atom) {
        if (self->state.stopping) return;
        self->delayed_send(self, interval, tick_atom::value);
        self->request(self->state.stats, figures_timeout, snapshot_atom::value)
            .then([=](stats_snapshot& figures) { decide(self, figures); });
      },
      [=](pool_atom) {
        std::vector<pool_worker> list;
        for (auto& [id, w] : self->state.workers)
          list.push_back(pool_worker{w.handle, w.options, w.draining});
        return list;
      },
      [=](adopt_atom, std::vector<pool_worker>& workers) {
        adopt(self, workers);
        reconcile(self);
      },
      [=](release_atom) {
        log_info("supervisor", "leaving " + std::to_string(self->state.workers.size()) +
                                   " workers to the next leader");
        self->state.workers.clear();  // not killed: another gateway's supervisor counts them
        self->quit();
      },
      [=](shutdown_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.stopping = true;
        for (auto& [id, w] : st.workers)
          if (!w.draining) {
            w.draining = true;
            self->send(st.balancer, drain_atom::value, id);
          }
        auto promise = self->make_response_promise<bool>();
        st.stop_waiters.push_back(promise);
        answer_stop_waiters_if_done(self);
        return promise;
      },
  };
}

}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& system,
                                  const config::deployment_config& config,
                                  std::shared_ptr<worker_placement> placement,
                                  balancer_actor balancer, stats_actor stats, shared_pool pool) {
  // Detached: a placement may block (remote spawn) without stalling the cooperative scheduler.
  return system.spawn<caf::detached>(supervisor, config, std::move(placement), std::move(balancer),
                                     std::move(stats), std::move(pool));
}

}  // namespace muse::actors
