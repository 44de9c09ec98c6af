#include "actors/supervisor.hpp"

#include <algorithm>
#include <map>

#include "actors/log.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

constexpr auto first_backoff = std::chrono::milliseconds(500);
constexpr auto max_backoff = std::chrono::milliseconds(30000);
constexpr auto stable_after = std::chrono::seconds(60);

struct slot {
  worker_options options;
  worker_actor handle;
  clock::time_point started;
  int failures_in_a_row = 0;
};

struct supervisor_state {
  std::map<std::string, slot> slots;
  std::shared_ptr<worker_placement> placement;
  balancer_actor balancer;
  bool stopping = false;
  std::vector<caf::typed_response_promise<bool>> stop_waiters;

  ~supervisor_state() {
    for (auto& [id, s] : slots)
      if (s.handle) caf::anon_send_exit(s.handle, caf::exit_reason::kill);
  }
  static inline const char* name = "supervisor";
};

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

std::chrono::milliseconds backoff(int failures) {
  auto delay = first_backoff;
  for (int i = 1; i < failures && delay < max_backoff; ++i) delay *= 2;
  return std::min(delay, max_backoff);
}

void answer_stop_waiters_if_done(supervisor_pointer self) {
  auto& st = self->state;
  bool any_alive = std::any_of(st.slots.begin(), st.slots.end(),
                               [](auto& entry) { return static_cast<bool>(entry.second.handle); });
  if (any_alive) return;
  for (auto& waiter : st.stop_waiters) waiter.deliver(true);
  st.stop_waiters.clear();
}

void start_slot(supervisor_pointer self, const std::string& id) {
  auto& st = self->state;
  auto it = st.slots.find(id);
  if (it == st.slots.end() || st.stopping || it->second.handle) return;
  auto& s = it->second;
  auto placed = st.placement->place(self->system(), s.options);
  if (!placed) {
    ++s.failures_in_a_row;
    auto delay = backoff(s.failures_in_a_row);
    log_warning("supervisor", "cannot start worker " + id + " on " + s.options.node + ": " +
                                  self->system().render(placed.error()) + "; retrying in " +
                                  std::to_string(delay.count()) + " ms");
    self->delayed_send(self, delay, respawn_atom::value, id);
    return;
  }
  s.handle = *placed;
  s.started = clock::now();
  self->monitor(s.handle);
  log_info("supervisor", "started worker " + id + " on " + s.options.node + "/" + s.options.device);
  self->send(st.balancer, register_atom::value, s.handle, s.options);
}

supervisor_actor::behavior_type supervisor(supervisor_pointer self,
                                           std::vector<worker_options> slots,
                                           std::shared_ptr<worker_placement> placement,
                                           balancer_actor balancer) {
  self->state.placement = std::move(placement);
  self->state.balancer = std::move(balancer);
  for (auto& options : slots) self->state.slots[options.id].options = options;
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    for (auto& [id, s] : st.slots) {
      if (!s.handle || s.handle.address() != down.source) continue;
      s.handle = worker_actor{};
      auto reason = self->system().render(down.reason);
      if (st.stopping) {
        log_info("supervisor", "worker " + id + " stopped");
        answer_stop_waiters_if_done(self);
        return;
      }
      if (clock::now() - s.started >= stable_after) s.failures_in_a_row = 0;
      ++s.failures_in_a_row;
      auto delay = backoff(s.failures_in_a_row);
      log_warning("supervisor", "worker " + id + " died (" + reason + "); restarting in " +
                                    std::to_string(delay.count()) + " ms");
      self->delayed_send(self, delay, respawn_atom::value, id);
      return;
    }
  });
  return {
      [=](start_atom) {
        std::vector<std::string> ids;
        for (auto& entry : self->state.slots) ids.push_back(entry.first);
        for (auto& id : ids) start_slot(self, id);
      },
      [=](respawn_atom, std::string& id) { start_slot(self, id); },
      [=](shutdown_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.stopping = true;
        for (auto& [id, s] : st.slots)
          if (s.handle) self->send(st.balancer, drain_atom::value, id);
        auto promise = self->make_response_promise<bool>();
        st.stop_waiters.push_back(promise);
        answer_stop_waiters_if_done(self);
        return promise;
      },
  };
}

}  // namespace

std::vector<worker_options> worker_slots(const config::deployment_config& config) {
  std::vector<worker_options> slots;
  auto next_id = [&] { return "w" + std::to_string(slots.size() + 1); };
  for (auto& node : config.gpu_nodes)
    for (auto& device : node.devices)
      for (int i = 0; i < node.slots_per_device; ++i)
        slots.push_back(make_worker_options(config, next_id(), node.name, device));
  if (slots.empty()) slots.push_back(make_worker_options(config, next_id(), "local", "cpu"));
  return slots;
}

supervisor_actor spawn_supervisor(caf::actor_system& system, std::vector<worker_options> slots,
                                  std::shared_ptr<worker_placement> placement,
                                  balancer_actor balancer) {
  // Detached: a placement may block (remote spawn) without stalling the cooperative scheduler.
  return system.spawn<caf::detached>(supervisor, std::move(slots), std::move(placement),
                                     std::move(balancer));
}

}  // namespace muse::actors
