#include "actors/stats.hpp"

#include <map>
#include <type_traits>

#include "actors/latency_tracker.hpp"

namespace muse::actors {
namespace {

constexpr size_t max_decisions_kept = 50;
constexpr auto part_timeout = std::chrono::seconds(2);

struct stats_state {
  std::shared_ptr<shared_status> status;
  batcher_actor batcher;
  balancer_actor balancer;
  uint64_t accepted = 0;
  uint64_t completed = 0;
  std::map<uint8_t, uint64_t> failed;  // by failure code
  uint64_t batches = 0;
  uint64_t batch_images = 0;
  std::map<uint32_t, uint64_t> batch_sizes;
  struct model_orders {
    uint64_t completed = 0;
    uint64_t failed = 0;
    uint64_t images = 0;
  };
  std::map<std::string, model_orders> by_model;
  latency_tracker queue_ms, inference_ms, total_ms;
  std::vector<scaling_record> decisions;
  std::vector<node_status> nodes;
  static inline const char* name = "stats";
};

using stats_pointer = stats_actor::stateful_pointer<stats_state>;

// Everything but the batcher's and the balancer's parts, which are asked for.
stats_snapshot own_figures(stats_state& st) {
  stats_snapshot s;
  s.uptime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - st.status->started).count();
  s.ready = st.status->ready_workers > 0;
  s.model = st.status->model("");
  for (auto& name : st.status->model_names()) {
    model_figures m;
    m.name = name;
    if (auto served = st.status->model(name)) m.limits = served->limits;
    m.ready_workers = st.status->ready_workers_of(name);
    auto& orders = st.by_model[name];
    m.completed = orders.completed;
    m.failed = orders.failed;
    m.images = orders.images;
    s.models.push_back(std::move(m));
  }
  s.orders.accepted = st.accepted;
  s.orders.completed = st.completed;
  for (auto f : all_failures) s.orders.failed.at(static_cast<size_t>(f)) = st.failed[to_code(f)];
  s.orders.open = st.status->open_orders.load();
  s.batches.done = st.batches;
  s.batches.images = st.batch_images;
  s.batches.mean_size = st.batches ? static_cast<double>(st.batch_images) / st.batches : 0.0;
  s.batches.size_histogram = st.batch_sizes;
  s.latency_ms = {st.queue_ms.summary(), st.inference_ms.summary(), st.total_ms.summary()};
  s.decisions = st.decisions;
  for (auto& node : st.nodes) s.nodes.push_back(to_figures(node, st.status->started));
  return s;
}

// Asks the batcher and the balancer for their parts and hands the whole snapshot to `deliver`. A
// part that does not answer in time stays empty; the rest is still worth having.
// Each model's share of the batcher's and the balancer's parts.
void add_model_parts(stats_snapshot& s) {
  for (auto& m : s.models) {
    auto lookup = [&](const auto& map) {
      auto it = map.find(m.name);
      return it == map.end() ? typename std::decay_t<decltype(map)>::mapped_type{} : it->second;
    };
    if (s.queue) {
      m.queue_depth = lookup(s.queue->batcher_depth_by_model);
      m.arrivals_per_s = lookup(s.queue->arrivals_by_model);
    }
    if (!s.workers) continue;
    m.queue_depth += lookup(s.workers->backlog_by_model);
    for (auto& w : s.workers->list)
      if (w.model == m.name) {
        ++m.workers;
        m.in_flight += w.in_flight;
      }
  }
}

template <class Deliver>
void assemble(stats_pointer self, Deliver user_deliver) {
  auto deliver = [user_deliver](stats_snapshot snapshot) mutable {
    add_model_parts(snapshot);
    user_deliver(std::move(snapshot));
  };
  auto snapshot = std::make_shared<stats_snapshot>(own_figures(self->state));
  auto ask_balancer = [=]() mutable {
    self->request(self->state.balancer, part_timeout, snapshot_atom::value)
        .then(
            [=](worker_pool_figures& workers) mutable {
              snapshot->workers = std::move(workers);
              deliver(std::move(*snapshot));
            },
            [=](caf::error&) mutable { deliver(std::move(*snapshot)); });
  };
  self->request(self->state.batcher, part_timeout, snapshot_atom::value)
      .then(
          [=](queue_figures& queue) mutable {
            snapshot->queue = std::move(queue);
            ask_balancer();
          },
          [=](caf::error&) mutable { ask_balancer(); });
}

stats_actor::behavior_type stats(stats_pointer self, std::shared_ptr<shared_status> status) {
  self->state.status = std::move(status);
  return {
      [=](register_atom, batcher_actor batcher, balancer_actor balancer) {
        self->state.batcher = std::move(batcher);
        self->state.balancer = std::move(balancer);
      },
      [=](accepted_atom) { ++self->state.accepted; },
      [=](order_done_atom, order_record& record) {
        auto& st = self->state;
        auto& by_model = st.by_model[record.model];
        if (record.failure_code != 0) {
          ++st.failed[record.failure_code];
          ++by_model.failed;
          return;
        }
        ++st.completed;
        ++by_model.completed;
        by_model.images += record.images;
        st.queue_ms.add(record.queue_ms);
        st.inference_ms.add(record.inference_ms);
        st.total_ms.add(record.total_ms);
      },
      [=](batch_done_atom, uint32_t size) {
        auto& st = self->state;
        ++st.batches;
        st.batch_images += size;
        ++st.batch_sizes[size];
      },
      [=](decision_atom, scaling_record& decision) {
        auto& list = self->state.decisions;
        list.push_back(std::move(decision));
        if (list.size() > max_decisions_kept) list.erase(list.begin());
      },
      [=](nodes_atom, std::vector<node_status>& nodes) { self->state.nodes = std::move(nodes); },
      [=](snapshot_atom) -> caf::result<stats_snapshot> {
        auto promise = self->make_response_promise<stats_snapshot>();
        assemble(self,
                 [=](stats_snapshot snapshot) mutable { promise.deliver(std::move(snapshot)); });
        return promise;
      },
      [=](snapshot_atom, stats_ticket& ticket) {
        assemble(self, [done = std::move(ticket.done)](stats_snapshot snapshot) {
          done(stats_reply{std::move(snapshot), false, {}});
        });
      },
  };
}

}  // namespace

stats_actor spawn_stats(caf::actor_system& system, std::shared_ptr<shared_status> status) {
  return system.spawn(stats, std::move(status));
}

}  // namespace muse::actors
