#include "actors/stats.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "actors/latency_tracker.hpp"

namespace muse::actors {
namespace {

using nlohmann::json;

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
  latency_tracker queue_ms, inference_ms, total_ms;
  std::vector<json> decisions;
  static inline const char* name = "stats";
};

using stats_pointer = stats_actor::stateful_pointer<stats_state>;

json model_json(const shared_status& status) {
  auto model = status.model();
  if (!model) return nullptr;
  const auto& l = model->limits;
  return {{"name", model->name},
          {"limits",
           {{"min_size", l.min_size},
            {"max_size", l.max_size},
            {"size_multiple", l.size_multiple},
            {"default_width", l.default_width},
            {"default_height", l.default_height},
            {"max_pixels", l.max_pixels},
            {"memory_budget_mb", l.memory_budget_mb},
            {"max_steps", l.max_steps},
            {"schedulers", l.schedulers}}}};
}

json own_figures(stats_state& st) {
  json failed = json::object();
  for (int f = 0; f <= static_cast<int>(failure::internal); ++f) {
    auto code = to_code(static_cast<failure>(f));
    failed[to_string(static_cast<failure>(f))] = st.failed[code];
  }
  json histogram = json::object();
  for (auto& [size, count] : st.batch_sizes) histogram[std::to_string(size)] = count;
  auto uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - st.status->started).count();
  return {{"uptime_s", uptime},
          {"ready", st.status->ready_workers > 0},
          {"model", model_json(*st.status)},
          {"orders",
           {{"accepted", st.accepted},
            {"completed", st.completed},
            {"failed", failed},
            {"open", st.status->open_orders.load()}}},
          {"batches",
           {{"done", st.batches},
            {"images", st.batch_images},
            {"mean_size", st.batches ? static_cast<double>(st.batch_images) / st.batches : 0.0},
            {"size_histogram", histogram}}},
          {"latency_ms",
           {{"queue", st.queue_ms.summary()},
            {"inference", st.inference_ms.summary()},
            {"total", st.total_ms.summary()}}},
          {"scaling", {{"decisions", st.decisions}}}};
}

json parse_part(const std::string& text) {
  auto part = json::parse(text, nullptr, false);
  return part.is_discarded() ? json(nullptr) : part;
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
        if (record.failure_code != 0) {
          ++st.failed[record.failure_code];
          return;
        }
        ++st.completed;
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
      [=](decision_atom, std::string& decision) {
        auto& list = self->state.decisions;
        list.push_back(parse_part(decision));
        if (list.size() > max_decisions_kept) list.erase(list.begin());
      },
      [=](snapshot_atom) -> caf::result<std::string> {
        auto promise = self->make_response_promise<std::string>();
        auto snapshot = std::make_shared<json>(own_figures(self->state));
        auto finish = [=](json workers) mutable {
          (*snapshot)["workers"] = std::move(workers);
          promise.deliver(snapshot->dump());
        };
        auto ask_balancer = [=]() mutable {
          self->request(self->state.balancer, part_timeout, snapshot_atom::value)
              .then([=](std::string& text) mutable { finish(parse_part(text)); },
                    [=](caf::error&) mutable { finish(nullptr); });
        };
        self->request(self->state.batcher, part_timeout, snapshot_atom::value)
            .then(
                [=](std::string& text) mutable {
                  (*snapshot)["queue"] = parse_part(text);
                  ask_balancer();
                },
                [=](caf::error&) mutable {
                  (*snapshot)["queue"] = nullptr;
                  ask_balancer();
                });
        return promise;
      },
  };
}

}  // namespace

stats_actor spawn_stats(caf::actor_system& system, std::shared_ptr<shared_status> status) {
  return system.spawn(stats, std::move(status));
}

}  // namespace muse::actors
