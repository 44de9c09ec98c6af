#include "actors/gateway_peers.hpp"

#include <caf/io/all.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "actors/capacity_meter.hpp"
#include "actors/cluster_links.hpp"
#include "actors/log.hpp"
#include "actors/supervisor.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr auto answer_timeout = std::chrono::seconds(5);  // the supervisor's list, the stats

// The followers' latest load, read by the leader's supervisor (on its own thread) at each
// decision. A report older than three autoscale intervals no longer counts.
class peer_loads {
 public:
  explicit peer_loads(std::chrono::milliseconds max_age) : max_age_(max_age) {}

  void set(int32_t index, const scaling_inputs& inputs) {
    std::lock_guard<std::mutex> lock(mutex_);
    reports_[index] = {inputs, clock::now()};
  }
  void erase(int32_t index) {
    std::lock_guard<std::mutex> lock(mutex_);
    reports_.erase(index);
  }
  // Sums the load; a worker's throughput comes from the followers' measures while the leader
  // has none of its own (it may serve no traffic at all): the mean of theirs.
  void add_to(scaling_inputs& inputs) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = clock::now();
    double throughput = 0;
    int measured = 0;
    double full_batch = 0;
    int full_measured = 0;
    for (auto& [index, report] : reports_) {
      if (now - report.second > max_age_) continue;
      inputs.arrivals_per_s += report.first.arrivals_per_s;
      inputs.queue_depth += report.first.queue_depth;
      inputs.in_flight += report.first.in_flight;
      if (report.first.images_per_s_per_worker > 0) {
        throughput += report.first.images_per_s_per_worker;
        ++measured;
      }
      if (report.first.full_batch_images_per_s > 0) {
        full_batch += report.first.full_batch_images_per_s;
        ++full_measured;
      }
    }
    if (inputs.images_per_s_per_worker <= 0 && measured > 0)
      inputs.images_per_s_per_worker = throughput / measured;
    if (inputs.full_batch_images_per_s <= 0 && full_measured > 0)
      inputs.full_batch_images_per_s = full_batch / full_measured;
  }

 private:
  std::chrono::milliseconds max_age_;
  std::mutex mutex_;
  std::map<int32_t, std::pair<scaling_inputs, clock::time_point>> reports_;
};

struct peer_link {
  gateway_peers_actor handle;
  bool leads = false;
};

struct peers_state {
  config::deployment_config config;
  int32_t index = 0;
  std::string me;  // this gateway's name
  std::shared_ptr<worker_placement> placement;
  balancer_actor balancer;
  stats_actor stats;
  caf::io::middleman_actor links;
  std::map<int32_t, peer_link> peers;  // the live other gateways, by index
  std::set<int32_t> connecting;
  std::set<std::string> nodes_linked;  // GPU nodes this process holds a direct link to
  std::set<std::string> nodes_connecting;
  std::vector<pool_worker> known_pool;                  // the leader's last list
  std::set<caf::actor_addr> registered;                 // workers registered with the balancer
  std::set<caf::actor_addr> drained;                    // workers the balancer was told to drain
  std::map<caf::actor_addr, std::string> worker_nodes;  // the registered ones, monitored
  std::shared_ptr<peer_loads> loads;
  capacity_meter capacity;      // this gateway's measure of a worker's throughput
  supervisor_actor supervisor;  // while this gateway leads
  clock::time_point settled_at;
  bool stopping = false;

  ~peers_state() {
    // Never let the supervisor's end stop the pool: the other gateways keep using it.
    if (supervisor) caf::anon_send(supervisor, release_atom::value);
  }
  static inline const char* name = "gateway_peers";
};

using peers_pointer = gateway_peers_actor::stateful_pointer<peers_state>;

bool leads(const peers_state& st) { return static_cast<bool>(st.supervisor); }

void forget_peer(peers_pointer self, int32_t index, const std::string& why) {
  auto& st = self->state;
  if (st.peers.erase(index) == 0) return;
  st.loads->erase(index);
  log_warning("gateway-peers",
              st.me + ": lost gateway " + st.config.gateways[index].name + " (" + why + ")");
}

void add_peer(peers_pointer self, int32_t index, gateway_peers_actor handle) {
  auto& st = self->state;
  if (index < 0 || index >= static_cast<int32_t>(st.config.gateways.size()) || index == st.index ||
      !handle)
    return;
  auto known = st.peers.find(index);
  if (known != st.peers.end() && known->second.handle == handle) return;
  st.peers[index] = peer_link{handle, false};
  self->monitor(handle);
  log_info("gateway-peers", st.me + ": linked to gateway " + st.config.gateways[index].name);
}

// Registers the leader's workers with this gateway's balancer: each once, and only once this
// process links to the worker's node itself (a route through the leader would die with it).
void follow_pool(peers_pointer self, const std::vector<pool_worker>& pool) {
  auto& st = self->state;
  for (auto& worker : pool) {
    if (!worker.handle) continue;
    auto actor = worker.handle.address();
    if (st.registered.count(actor) == 0) {
      if (st.nodes_linked.count(worker.options.node) == 0) continue;
      st.registered.insert(actor);
      st.worker_nodes[worker.handle.address()] = worker.options.node;
      self->monitor(worker.handle);
      self->send(st.balancer, register_atom::value, worker.handle, worker.options);
      log_info("gateway-peers",
               st.me + ": using worker " + worker.options.id + " on " + worker.options.node);
    }
    if (worker.draining && st.drained.insert(actor).second)
      self->send(st.balancer, drain_atom::value, worker.options.id);
  }
  // Forget the dead workers the leader no longer lists (a listed one stays known while its death
  // has not reached the leader, so that it is not registered again). A leader keeps its own.
  if (leads(st)) return;
  std::set<caf::actor_addr> listed;
  for (auto& worker : pool) listed.insert(worker.handle.address());
  for (auto it = st.registered.begin(); it != st.registered.end();) {
    if (listed.count(*it) != 0 || st.worker_nodes.count(*it) != 0) {
      ++it;
      continue;
    }
    st.drained.erase(*it);
    it = st.registered.erase(it);
  }
}

void take_the_lead(peers_pointer self) {
  auto& st = self->state;
  shared_pool pool;
  // Only the workers this balancer uses: any other would be one it cannot reach.
  for (auto& worker : st.known_pool)
    if (worker.handle && st.registered.count(worker.handle.address()) != 0)
      pool.adopted.push_back(worker);
  auto loads = st.loads;
  pool.add_peer_load = [loads](scaling_inputs& inputs) { loads->add_to(inputs); };
  log_info("gateway-peers", st.me + ": leading the pool (" + std::to_string(pool.adopted.size()) +
                                " workers adopted)");
  st.supervisor = spawn_supervisor(self->system(), st.config, st.placement, st.balancer, st.stats,
                                   std::move(pool));
  caf::anon_send(st.supervisor, start_atom::value);
}

// The lowest-ordered live gateway leads, once this one has had time to hear from the others
// (a restarted gateway must learn of the pool before it could start one).
void elect(peers_pointer self) {
  auto& st = self->state;
  if (st.stopping || leads(st) || clock::now() < st.settled_at) return;
  for (auto& [index, peer] : st.peers)
    if (peer.leads || index < st.index) return;
  take_the_lead(self);
}

void connect_peers(peers_pointer self) {
  auto& st = self->state;
  for (int32_t i = 0; i < static_cast<int32_t>(st.config.gateways.size()); ++i) {
    // Each connects to the gateways ordered before it; the later ones connect to it and say
    // hello, so one link joins each pair.
    if (i >= st.index || st.peers.count(i) != 0 || st.connecting.count(i) != 0) continue;
    st.connecting.insert(i);
    const auto& peer = st.config.gateways[i];
    self->request(st.links, connect_timeout, caf::connect_atom::value, peer.host, peer.cluster_port)
        .then(
            [=](caf::node_id&, caf::strong_actor_ptr& whom, std::set<std::string>&) {
              self->state.connecting.erase(i);
              add_peer(self, i, caf::actor_cast<gateway_peers_actor>(whom));
            },
            [=](caf::error&) { self->state.connecting.erase(i); });
  }
  // A node's link is not cached by the middleman (nothing is published on a node's port): connect
  // once, and again only after a worker there died (the link may have gone with it).
  for (const auto& node : st.config.gpu_nodes) {
    if (st.nodes_connecting.count(node.name) != 0 || st.nodes_linked.count(node.name) != 0)
      continue;
    st.nodes_connecting.insert(node.name);
    auto name = node.name;
    self->request(st.links, connect_timeout, caf::connect_atom::value, node.host, node.port)
        .then(
            [=](caf::node_id&, caf::strong_actor_ptr&, std::set<std::string>&) {
              self->state.nodes_connecting.erase(name);
              self->state.nodes_linked.insert(name);
            },
            [=](caf::error&) { self->state.nodes_connecting.erase(name); });
  }
}

void say_hello(peers_pointer self, const std::vector<pool_worker>& pool) {
  auto& st = self->state;
  for (auto& [index, peer] : st.peers)
    self->send(peer.handle, hello_atom::value, st.index, leads(st), pool);
}

void tick(peers_pointer self) {
  auto& st = self->state;
  if (st.stopping) return;
  connect_peers(self);
  elect(self);
  if (leads(st)) {
    self->request(st.supervisor, answer_timeout, pool_atom::value)
        .then(
            [=](std::vector<pool_worker>& pool) {
              for (auto& worker : pool)
                if (worker.handle) self->state.registered.insert(worker.handle.address());
              self->state.known_pool = pool;
              say_hello(self, pool);
            },
            [=](caf::error&) {});
    return;
  }
  say_hello(self, {});
  for (auto& [index, peer] : st.peers) {
    if (!peer.leads) continue;
    auto leader = peer.handle;
    self->request(st.stats, answer_timeout, snapshot_atom::value)
        .then(
            [=](stats_snapshot& figures) {
              self->send(leader, peer_load_atom::value, self->state.index,
                         measured_load(figures, self->state.capacity));
            },
            [=](caf::error&) {});
  }
}

gateway_peers_actor::behavior_type gateway_peers(peers_pointer self,
                                                 config::deployment_config config, int32_t index,
                                                 std::shared_ptr<worker_placement> placement,
                                                 balancer_actor balancer, stats_actor stats) {
  auto& st = self->state;
  st.index = index;
  st.me = config.gateways[index].name;
  st.links = cluster_link_manager(self->system(), config.cluster);
  st.loads = std::make_shared<peer_loads>(
      std::chrono::milliseconds(3000 * static_cast<int64_t>(config.autoscale.interval_s)));
  // Long enough for every live gateway to connect and say hello a few times.
  st.settled_at = clock::now() + std::chrono::milliseconds(config.cluster.node_timeout_ms +
                                                           2 * config.cluster.heartbeat_ms);
  st.config = std::move(config);
  st.placement = std::move(placement);
  st.balancer = std::move(balancer);
  st.stats = std::move(stats);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    if (auto worker = st.worker_nodes.find(down.source); worker != st.worker_nodes.end()) {
      st.nodes_linked.erase(worker->second);
      st.worker_nodes.erase(worker);
      return;
    }
    for (auto& [i, peer] : st.peers)
      if (peer.handle.address() == down.source) {
        forget_peer(self, i, self->system().render(down.reason));
        elect(self);
        return;
      }
  });
  auto heartbeat = std::chrono::milliseconds(st.config.cluster.heartbeat_ms);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        tick(self);
        self->delayed_send(self, heartbeat, tick_atom::value);
      },
      [=](hello_atom, int32_t from, bool from_leads, std::vector<pool_worker>& pool) {
        auto& st = self->state;
        add_peer(self, from, caf::actor_cast<gateway_peers_actor>(self->current_sender()));
        auto peer = st.peers.find(from);
        if (peer == st.peers.end()) return;
        peer->second.leads = from_leads;
        if (!from_leads || st.stopping) return;
        if (leads(st)) {
          // Two leaders (they could not see each other for a while): the later-ordered one
          // yields; the other counts its workers too.
          if (from < st.index) {
            log_warning("gateway-peers", st.me + ": gateway " + st.config.gateways[from].name +
                                             " leads; leaving the pool to it");
            self->send(st.supervisor, release_atom::value);
            st.supervisor = supervisor_actor{};
          } else {
            follow_pool(self, pool);
            self->send(st.supervisor, adopt_atom::value, pool);
            return;
          }
        }
        follow_pool(self, pool);
        st.known_pool = std::move(pool);
      },
      [=](peer_load_atom, int32_t from, scaling_inputs& inputs) {
        log_debug("gateway-peers", self->state.me + ": load of gateway " +
                                       self->state.config.gateways[from].name + ": arrivals " +
                                       std::to_string(inputs.arrivals_per_s) + "/s, queue " +
                                       std::to_string(inputs.queue_depth) + ", in flight " +
                                       std::to_string(inputs.in_flight));
        self->state.loads->set(from, inputs);
      },
      [=](shutdown_atom) {
        auto& st = self->state;
        st.stopping = true;
        if (st.supervisor) {
          log_info("gateway-peers", st.me + ": leaving the pool to the other gateways");
          self->send(st.supervisor, release_atom::value);
          st.supervisor = supervisor_actor{};
        }
        return true;
      },
  };
}

}  // namespace

gateway_peers_actor start_gateway_peers(caf::actor_system& system,
                                        const config::deployment_config& config, int32_t index,
                                        std::shared_ptr<worker_placement> placement,
                                        balancer_actor balancer, stats_actor stats) {
  auto actor = system.spawn(gateway_peers, config, index, std::move(placement), std::move(balancer),
                            std::move(stats));
  const auto& me = config.gateways[index];
  auto published =
      publish_on_cluster_port(system, config.cluster, caf::actor_cast<caf::strong_actor_ptr>(actor),
                              system.message_types(actor), me.host, me.cluster_port);
  if (!published) {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    throw std::runtime_error("gateway " + me.name + ": cannot open the cluster port " + me.host +
                             ":" + std::to_string(me.cluster_port) + ": " +
                             system.render(published.error()));
  }
  log_info("gateway-peers",
           me.name + ": cluster port " + me.host + ":" + std::to_string(*published) + " open");
  return actor;
}

sample_id first_sample_id_of(int32_t index) {
  // The gateway's place in the top byte; below it, the start time in milliseconds (36 bits, a
  // bit over two years) over 2^20 samples, so a restart does not meet its predecessor's ids.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return (static_cast<sample_id>(index + 1) << 56) |
         ((static_cast<sample_id>(ms) & ((sample_id{1} << 36) - 1)) << 20);
}

}  // namespace muse::actors
