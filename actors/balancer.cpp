#include "actors/balancer.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "actors/balancer_policy.hpp"
#include "actors/log.hpp"
#include "actors/model_conversion.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

struct worker_record {
  worker_options options;
  worker_actor handle;
  std::string state = "loading";  // loading | ready | draining | dead
  size_t in_flight = 0;           // samples
  uint64_t batches_done = 0;
  uint64_t images_done = 0;
  uint64_t image_steps = 0;
  uint32_t starts = 0;
  worker_counters counters;  // this start's, the newest seen
  worker_counters earlier;   // the slot's earlier starts', added up
  clock::time_point ready_since;
};

struct dispatched_batch {
  std::string worker_id;
  batch remaining;  // the samples not answered yet
  size_t size = 0;  // as dispatched
};

struct held_batch {
  batch work;
  clock::time_point since;
};

struct balancer_state {
  balancer_policy policy{balancer_policy::kind::least_loaded};
  size_t capacity = 1;
  std::vector<worker_record> workers;
  std::deque<held_batch> backlog;
  std::map<uint64_t, dispatched_batch> dispatched;   // by batch id
  std::unordered_map<sample_id, uint64_t> batch_of;  // samples in flight -> their batch
  ingress_actor ingress;
  batcher_actor batcher;
  stats_actor stats;
  std::shared_ptr<shared_status> status;
  bool tick_pending = false;
  // Samples that left the backlog (dispatched or dropped) minus those put back into it; the
  // batcher subtracts this from what it handed over to know the backlog.
  uint64_t released = 0;
  static inline const char* name = "balancer";
};

using balancer_pointer = balancer_actor::stateful_pointer<balancer_state>;

worker_record* find_by_id(balancer_state& st, const std::string& id) {
  for (auto& w : st.workers)
    if (w.options.id == id) return &w;
  return nullptr;
}

worker_record* find_by_address(balancer_state& st, const caf::actor_addr& address) {
  for (auto& w : st.workers)
    if (w.handle && w.handle.address() == address) return &w;
  return nullptr;
}

// Combines the counters by row count element by element (a missing element counts as 0).
template <class Combine>
void by_rows(worker_counters& into, const worker_counters& other, Combine combine) {
  auto each = [&](auto& to, const auto& from) {
    if (from.size() > to.size()) to.resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) to[i] = combine(to[i], from[i]);
  };
  each(into.calls_by_rows, other.calls_by_rows);
  each(into.busy_s_by_rows, other.busy_s_by_rows);
}

// Results carry the counters of when their image finished and may arrive after progress that
// carries newer ones: keep each counter's highest value so that none goes backwards.
void take_newer(worker_counters& kept, const worker_counters& seen) {
  kept.model_calls = std::max(kept.model_calls, seen.model_calls);
  kept.sample_steps = std::max(kept.sample_steps, seen.sample_steps);
  kept.steps_saved = std::max(kept.steps_saved, seen.steps_saved);
  kept.images = std::max(kept.images, seen.images);
  kept.busy_s = std::max(kept.busy_s, seen.busy_s);
  by_rows(kept, seen, [](auto a, auto b) { return std::max(a, b); });
}

void add_counters(worker_counters& sum, const worker_counters& more) {
  sum.model_calls += more.model_calls;
  sum.sample_steps += more.sample_steps;
  sum.steps_saved += more.steps_saved;
  sum.images += more.images;
  sum.busy_s += more.busy_s;
  by_rows(sum, more, [](auto a, auto b) { return a + b; });
}

void publish_status(balancer_pointer self) {
  auto& st = self->state;
  int ready = 0, live = 0;
  std::map<std::string, int> ready_by_model;
  for (auto& w : st.workers) {
    ready += w.state == "ready" ? 1 : 0;
    live += w.state != "dead" ? 1 : 0;
    if (w.state == "ready") ++ready_by_model[w.options.model_name];
  }
  st.status->set_ready_by_model(std::move(ready_by_model));
  st.status->ready_workers = ready;
  st.status->total_workers = live;
}

bool has_ready_worker(const balancer_state& st, const std::string& model) {
  return std::any_of(st.workers.begin(), st.workers.end(), [&](const worker_record& w) {
    return w.state == "ready" && w.options.model_name == model;
  });
}

void report_backlog(balancer_pointer self) {
  if (self->state.batcher)
    self->send(self->state.batcher, backlog_atom::value, self->state.released);
}

void fail_sample(balancer_pointer self, sample_id id, failure f, const std::string& message) {
  sample_result result;
  result.id = id;
  result.failure_code = to_code(f);
  result.message = message;
  self->send(self->state.ingress, result_atom::value, std::move(result));
}

void schedule_tick(balancer_pointer self) {
  if (self->state.tick_pending) return;
  self->state.tick_pending = true;
  self->delayed_send(self, std::chrono::milliseconds(250), tick_atom::value);
}

// Each batch goes to a worker of its model, in arrival order per model: a batch that finds no
// worker of its model with room waits, and so do the later ones of that model; those of other
// models pass it.
void dispatch(balancer_pointer self) {
  auto& st = self->state;
  std::set<std::string> blocked;  // models whose oldest waiting batch found no worker
  for (auto it = st.backlog.begin(); it != st.backlog.end();) {
    auto& front = it->work;
    if (blocked.count(front.key.model) != 0) {
      ++it;
      continue;
    }
    std::vector<worker_load> loads;
    for (auto& w : st.workers)
      loads.push_back(worker_load{w.state == "ready" && w.options.model_name == front.key.model,
                                  w.in_flight, st.capacity});
    auto chosen = st.policy.choose(loads, front.samples.size());
    if (!chosen) {
      blocked.insert(front.key.model);
      ++it;
      continue;
    }
    auto& worker = st.workers[*chosen];
    for (auto& task : front.samples) {
      ++task.attempts;
      st.batch_of[task.id] = front.id;
    }
    worker.in_flight += front.samples.size();
    st.released += front.samples.size();
    log_debug("balancer", "batch " + std::to_string(front.id) + " (" +
                              std::to_string(front.samples.size()) + " samples) to " +
                              worker.options.id);
    st.dispatched[front.id] = dispatched_batch{worker.options.id, front, front.samples.size()};
    self->send(worker.handle, run_atom::value, std::move(front));
    it = st.backlog.erase(it);
  }
  report_backlog(self);
  for (auto& held : st.backlog)
    if (!has_ready_worker(st, held.work.key.model)) {
      schedule_tick(self);
      break;
    }
}

// Takes a dead worker's samples back: to the front of the queue, in their old order.
void requeue(balancer_pointer self, worker_record& worker) {
  auto& st = self->state;
  std::vector<batch> again;
  size_t samples = 0;
  for (auto it = st.dispatched.begin(); it != st.dispatched.end();) {
    if (it->second.worker_id != worker.options.id) {
      ++it;
      continue;
    }
    batch work = std::move(it->second.remaining);
    std::vector<sample_task> keep;
    for (auto& task : work.samples) {
      st.batch_of.erase(task.id);
      if (task.attempts >= max_attempts)
        fail_sample(self, task.id, failure::internal,
                    "the model failed on this request " + std::to_string(task.attempts) + " times");
      else
        keep.push_back(std::move(task));
    }
    samples += keep.size();
    st.released -= std::min<uint64_t>(st.released, keep.size());
    work.samples = std::move(keep);
    if (!work.samples.empty()) again.push_back(std::move(work));
    it = st.dispatched.erase(it);
  }
  auto now = clock::now();
  for (auto it = again.rbegin(); it != again.rend(); ++it)
    st.backlog.push_front(held_batch{std::move(*it), now});
  worker.in_flight = 0;
  if (samples > 0)
    log_warning("balancer",
                "requeued " + std::to_string(samples) + " samples of worker " + worker.options.id);
}

void on_result(balancer_pointer self, sample_result& result, worker_counters& counters) {
  auto& st = self->state;
  auto* worker = find_by_address(st, caf::actor_cast<caf::actor_addr>(self->current_sender()));
  if (worker == nullptr) return;
  take_newer(worker->counters, counters);
  auto owner = st.batch_of.find(result.id);
  if (owner == st.batch_of.end())
    return;  // requeued or cancelled meanwhile: someone else answers it
  auto it = st.dispatched.find(owner->second);
  if (it == st.dispatched.end() || it->second.worker_id != worker->options.id) return;
  st.batch_of.erase(owner);
  auto& tasks = it->second.remaining.samples;
  tasks.erase(std::remove_if(tasks.begin(), tasks.end(),
                             [&](const sample_task& t) { return t.id == result.id; }),
              tasks.end());
  if (worker->in_flight > 0) --worker->in_flight;
  if (result.failure_code == 0) {
    ++worker->images_done;
    worker->image_steps += static_cast<uint64_t>(std::max(result.steps, 0));
  }
  if (tasks.empty()) {
    ++worker->batches_done;
    self->send(st.stats, batch_done_atom::value, static_cast<uint32_t>(it->second.size));
    st.dispatched.erase(it);
  }
  self->send(st.ingress, result_atom::value, std::move(result));
  dispatch(self);
}

void on_tick(balancer_pointer self) {
  auto& st = self->state;
  st.tick_pending = false;
  auto now = clock::now();
  bool waiting = false;  // batches of a model with no ready worker, not yet given up
  for (auto it = st.backlog.begin(); it != st.backlog.end();) {
    const auto& model = it->work.key.model;
    if (has_ready_worker(st, model)) {
      ++it;
    } else if (st.status->scales_to_zero(model) || now - it->since < no_worker_grace) {
      // A model scaled to zero: its batches wait for the worker its demand starts (the
      // ingress's deadline bounds them).
      waiting = true;
      ++it;
    } else {
      for (auto& task : it->work.samples)
        fail_sample(self, task.id, failure::no_worker,
                    "no worker of model " + it->work.key.model + " became ready");
      st.released += it->work.samples.size();
      it = st.backlog.erase(it);
    }
  }
  report_backlog(self);
  if (waiting) schedule_tick(self);
}

void on_register(balancer_pointer self, worker_actor worker, worker_options& options) {
  auto& st = self->state;
  auto* record = find_by_id(st, options.id);
  if (record == nullptr) {
    st.workers.emplace_back();
    record = &st.workers.back();
  } else if (record->handle && record->handle != worker) {
    // The slot started again while this balancer still counts its old worker (another gateway's
    // supervisor saw it die first): what the old one held goes back to the queue now, since its
    // down message will no longer find it.
    requeue(self, *record);
  }
  record->options = options;
  record->handle = worker;
  record->state = "loading";
  record->in_flight = 0;
  add_counters(record->earlier, record->counters);
  record->counters = {};
  ++record->starts;
  self->monitor(worker);
  publish_status(self);
  auto id = options.id;
  self->request(worker, caf::infinite, load_atom::value)
      .then(
          [=](worker_info& info) {
            auto* w = find_by_id(self->state, id);
            if (w == nullptr || w->handle != worker || w->state != "loading") return;
            w->state = "ready";
            w->ready_since = clock::now();
            self->state.status->set_model(
                served_model{w->options.model_name, from_model(info.limits)});
            publish_status(self);
            dispatch(self);
          },
          [=](caf::error&) {
            // The worker quits with the reason; the down message handles it.
          });
}

balancer_actor::behavior_type balancer(balancer_pointer self, balancer_policy policy,
                                       size_t max_batch_size, stats_actor stats,
                                       std::shared_ptr<shared_status> status) {
  self->state.policy = policy;
  // Room for one batch running and one waiting to join, so a worker never idles between them.
  self->state.capacity = 2 * std::max<size_t>(1, max_batch_size);
  self->state.stats = std::move(stats);
  self->state.status = std::move(status);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    auto* worker = find_by_address(st, down.source);
    if (worker == nullptr) return;
    bool drained = worker->state == "draining";
    worker->state = "dead";
    worker->handle = worker_actor{};
    requeue(self, *worker);
    // Stopped on purpose (scale-down, shutdown): nobody replaces it, so it leaves the list and
    // the count; a worker that died stays, as dead, until its replacement takes its id.
    if (drained) st.workers.erase(st.workers.begin() + (worker - st.workers.data()));
    publish_status(self);
    dispatch(self);
  });
  return {
      [=](register_atom, ingress_actor ingress, batcher_actor batcher) {
        self->state.ingress = std::move(ingress);
        self->state.batcher = std::move(batcher);
      },
      [=](run_atom, batch& work) {
        self->state.backlog.push_back(held_batch{std::move(work), clock::now()});
        dispatch(self);
      },
      [=](cancel_atom, std::vector<sample_id>& ids) {
        auto& st = self->state;
        std::unordered_map<sample_id, bool> wanted;
        for (auto id : ids) wanted[id] = true;
        for (auto it = st.backlog.begin(); it != st.backlog.end();) {
          auto& tasks = it->work.samples;
          auto before = tasks.size();
          tasks.erase(std::remove_if(tasks.begin(), tasks.end(),
                                     [&](const sample_task& t) { return wanted.count(t.id) != 0; }),
                      tasks.end());
          st.released += before - tasks.size();
          it = tasks.empty() ? st.backlog.erase(it) : std::next(it);
        }
        std::map<std::string, std::vector<sample_id>> per_worker;
        for (auto id : ids)
          if (auto owner = st.batch_of.find(id); owner != st.batch_of.end())
            per_worker[st.dispatched[owner->second].worker_id].push_back(id);
        for (auto& [worker_id, sample_ids] : per_worker)
          if (auto* w = find_by_id(st, worker_id); w != nullptr && w->handle)
            self->send(w->handle, cancel_atom::value, std::move(sample_ids));
        report_backlog(self);
      },
      [=](register_atom, worker_actor worker, worker_options& options) {
        on_register(self, std::move(worker), options);
      },
      [=](drain_atom, std::string& id) {
        auto& st = self->state;
        auto* w = find_by_id(st, id);
        if (w == nullptr) return;
        if (w->handle) {
          w->state = "draining";
          self->send(w->handle, drain_atom::value);
        } else if (w->state == "dead") {
          // The supervisor will not replace it: it leaves the list.
          st.workers.erase(st.workers.begin() + (w - st.workers.data()));
        }
        publish_status(self);
      },
      [=](result_atom, sample_result& result, worker_counters& counters) {
        on_result(self, result, counters);
      },
      [=](progress_atom, std::vector<sample_progress>& progress, worker_counters& counters) {
        auto* worker =
            find_by_address(self->state, caf::actor_cast<caf::actor_addr>(self->current_sender()));
        if (worker != nullptr) take_newer(worker->counters, counters);
        self->send(self->state.ingress, progress_atom::value, std::move(progress));
      },
      [=](tick_atom) { on_tick(self); },
      [=](snapshot_atom) -> worker_pool_figures {
        auto& st = self->state;
        auto now = clock::now();
        worker_pool_figures pool;
        pool.total = st.workers.size();
        pool.capacity_per_worker = st.capacity;
        for (auto& held : st.backlog)
          pool.backlog_by_model[held.work.key.model] += held.work.samples.size();
        for (auto& w : st.workers) {
          pool.ready += w.state == "ready" ? 1 : 0;
          double up_s = w.state == "ready" || w.state == "draining"
                            ? std::chrono::duration<double>(now - w.ready_since).count()
                            : 0.0;
          auto counters = w.earlier;
          add_counters(counters, w.counters);
          auto calls = counters.model_calls;
          worker_figures figures;
          figures.id = w.options.id;
          figures.model = w.options.model_name;
          figures.node = w.options.node;
          figures.device = w.options.device;
          figures.state = w.state;
          figures.in_flight = w.in_flight;
          figures.batches_done = w.batches_done;
          figures.images_done = w.images_done;
          figures.mean_batch_size =
              calls ? static_cast<double>(counters.sample_steps) / calls : 0.0;
          figures.steps_done = counters.sample_steps;
          figures.steps_saved = counters.steps_saved;
          figures.model_calls = calls;
          figures.starts = w.starts;
          figures.images_per_s = up_s > 0 ? w.images_done / up_s : 0.0;
          figures.busy_s = counters.busy_s;
          figures.image_steps = w.image_steps;
          figures.calls_by_rows = std::move(counters.calls_by_rows);
          figures.busy_s_by_rows = std::move(counters.busy_s_by_rows);
          pool.list.push_back(std::move(figures));
        }
        return pool;
      },
  };
}

}  // namespace

balancer_actor spawn_balancer(caf::actor_system& system, const config::deployment_config& config,
                              stats_actor stats, std::shared_ptr<shared_status> status) {
  auto policy = balancer_policy::from_name(config.balancer.policy);
  return system.spawn(balancer, policy, static_cast<size_t>(config.batching.max_batch_size),
                      std::move(stats), std::move(status));
}

}  // namespace muse::actors
