#include "actors/batcher.hpp"

#include <map>

#include "actors/batch_queues.hpp"
#include "actors/log.hpp"
#include "actors/rate_counter.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

struct batcher_state {
  batch_queues queues{1, std::chrono::milliseconds(0)};
  uint64_t max_queue = 0;
  uint64_t handed_over = 0;  // samples given to the balancer, ever
  uint64_t released = 0;     // of those, how many left its backlog (as it last reported)
  rate_counter arrivals;
  std::map<std::string, rate_counter> arrivals_by_model;
  std::optional<clock::time_point> tick_at;  // the earliest tick already on its way
  balancer_actor balancer;
  static inline const char* name = "batcher";
};

// Samples waiting here or in the balancer's backlog. A batch on its way to the balancer counts
// until the balancer reports it released, so the bound holds whatever the message timing.
uint64_t depth(const batcher_state& st) {
  auto in_balancer = st.handed_over > st.released ? st.handed_over - st.released : 0;
  return st.queues.depth() + in_balancer;
}

using batcher_pointer = batcher_actor::stateful_pointer<batcher_state>;

void hand_over(batcher_pointer self, batch b) {
  log_debug("batcher", "flush batch " + std::to_string(b.id) + " key " + to_string(b.key) +
                           " size " + std::to_string(b.samples.size()));
  self->state.handed_over += b.samples.size();
  self->send(self->state.balancer, run_atom::value, std::move(b));
}

void schedule_tick(batcher_pointer self) {
  auto due = self->state.queues.next_due();
  if (!due || (self->state.tick_at && *self->state.tick_at <= *due)) return;
  self->state.tick_at = *due;
  auto delay = std::max(clock::duration::zero(), *due - clock::now());
  self->delayed_send(self, delay, tick_atom::value);
}

batcher_actor::behavior_type batcher(batcher_pointer self, config::batching_config config,
                                     balancer_actor balancer) {
  self->state.balancer = std::move(balancer);
  self->state.queues = batch_queues(static_cast<size_t>(config.max_batch_size),
                                    std::chrono::milliseconds(config.max_wait_ms));
  self->state.max_queue = static_cast<uint64_t>(config.max_queue);
  return {
      [=](enqueue_atom, std::vector<sample_task>& tasks) -> bool {
        auto& st = self->state;
        auto now = clock::now();
        st.arrivals.add(now, tasks.size());
        for (auto& task : tasks) st.arrivals_by_model[task.model].add(now);
        if (depth(st) + tasks.size() > st.max_queue) {
          log_debug("batcher", "queue full, refusing " + std::to_string(tasks.size()) + " samples");
          return false;
        }
        for (auto& task : tasks)
          if (auto full = st.queues.push(std::move(task), now)) hand_over(self, std::move(*full));
        schedule_tick(self);
        return true;
      },
      [=](cancel_atom, std::vector<sample_id>& ids) {
        self->state.queues.remove(ids);
        // Whatever was not waiting here has moved on: the balancer finds it.
        self->send(self->state.balancer, cancel_atom::value, std::move(ids));
      },
      [=](backlog_atom, uint64_t released) {
        self->state.released = released;  // in order: one sender
      },
      [=](tick_atom) {
        auto& st = self->state;
        auto now = clock::now();
        if (st.tick_at && *st.tick_at <= now) st.tick_at.reset();
        for (auto& due : st.queues.take_due(now)) hand_over(self, std::move(due));
        schedule_tick(self);
      },
      [=](snapshot_atom) -> queue_figures {
        auto& st = self->state;
        queue_figures queue;
        queue.depth = depth(st);
        queue.max = st.max_queue;
        queue.keys = st.queues.keys();
        queue.arrivals_per_s = st.arrivals.per_second(clock::now());
        queue.arrivals_total = st.arrivals.total();
        queue.batcher_depth = st.queues.depth();
        queue.balancer_backlog = queue.depth - queue.batcher_depth;
        queue.batcher_depth_by_model = st.queues.depth_by_model();
        auto now = clock::now();
        for (auto& [model, rate] : st.arrivals_by_model)
          queue.arrivals_by_model[model] = rate.per_second(now);
        return queue;
      },
  };
}

}  // namespace

batcher_actor spawn_batcher(caf::actor_system& system, const config::batching_config& config,
                            balancer_actor balancer) {
  return system.spawn(batcher, config, std::move(balancer));
}

}  // namespace muse::actors
