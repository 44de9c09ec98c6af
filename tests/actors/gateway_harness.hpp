#pragma once
// Starts the whole gateway (ingress to workers) on fake generators and collects outcomes, counting
// how often each order was answered.

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "actors/gateway_with_placement.hpp"
#include "actors/model_conversion.hpp"
#include "fake_generator.hpp"
#include "tests/support/eventually.hpp"

namespace muse::actors::testing {

using muse::testing::eventually;

struct gateway_settings {
  int workers = 1;      // the node's slots, and min_workers unless that is set
  int min_workers = 0;  // 0: workers
  int max_batch_size = 4;
  int max_wait_ms = 5;
  int max_queue = 100;
  bool step_level = true;
  std::string policy = "least_loaded";
  std::chrono::milliseconds step_time{5};
  std::chrono::milliseconds load_time{0};
  bool fail_load = false;
  int autoscale_interval_s = 30;
  // Several models: the config's list as it is (names, min_workers, max_workers). Empty: one
  // model, kept at min_workers (or workers).
  std::vector<config::model_config> models;
};

inline config::model_config model_named(std::string name, int min_workers = 1,
                                        int max_workers = 8) {
  config::model_config model;
  model.name = std::move(name);
  model.min_workers = min_workers;
  model.max_workers = max_workers;
  return model;
}

inline config::deployment_config make_config(const gateway_settings& s) {
  config::deployment_config config;
  config::gpu_node_config node;
  node.name = "test-node";
  node.devices.assign(static_cast<size_t>(s.workers), "cpu");
  node.slots_per_device = 1;
  config.gpu_nodes = {node};
  config.autoscale.min_workers = s.min_workers > 0 ? s.min_workers : s.workers;
  config.models[0].min_workers = config.autoscale.min_workers;
  if (!s.models.empty()) config.models = s.models;
  config.autoscale.interval_s = s.autoscale_interval_s;
  config.batching.max_batch_size = s.max_batch_size;
  config.batching.max_wait_ms = s.max_wait_ms;
  config.batching.max_queue = s.max_queue;
  config.batching.step_level = s.step_level;
  config.balancer.policy = s.policy;
  return config;
}

class outcomes {
 public:
  outcome_callback callback() {
    return [this](generate_outcome outcome) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto id = outcome.id;
      answers_[id].push_back(std::move(outcome));
      changed_.notify_all();
    };
  }
  // The first answer for `id`, waiting up to `limit` for it.
  std::optional<generate_outcome> wait(const std::string& id,
                                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_for(lock, limit, [&] { return answers_.count(id) != 0; }))
      return std::nullopt;
    return answers_[id].front();
  }
  size_t answers(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = answers_.find(id);
    return it == answers_.end() ? 0 : it->second.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<generate_outcome>> answers_;
};

inline sample_request sample(uint64_t seed, int steps = 4, int width = 16,
                             std::string prompt = "a lighthouse") {
  sample_request r;
  r.prompt = std::move(prompt);
  r.seed = seed;
  r.steps = steps;
  r.width = width;
  r.height = 16;
  r.scheduler = "ddim";
  return r;
}

inline model::rgb_image expected_image(const sample_request& request) {
  return expected_image(to_model(request));
}

inline generate_order make_order(std::string id, std::vector<sample_request> samples,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                 std::string model = "") {
  generate_order order;
  order.id = std::move(id);
  order.model = std::move(model);
  order.samples = std::move(samples);
  order.deadline = std::chrono::steady_clock::now() + timeout;
  return order;
}

struct running_gateway {
  explicit running_gateway(gateway_settings s = {}) : settings(s) {
    control->step_time = s.step_time;
    control->load_time = s.load_time;
    control->fail_load = s.fail_load;
    gw = start_gateway(make_config(s), std::make_shared<local_placement>(fake_factory(control)));
  }
  ~running_gateway() { gw->shutdown(std::chrono::milliseconds(0)); }

  // The gateway's stats, waited for (a test may block; the gateway's callers may not). Empty
  // when the gateway answered none.
  stats_snapshot stats() {
    auto promise = std::make_shared<std::promise<stats_reply>>();
    auto answer = promise->get_future();
    gw->stats([promise](stats_reply reply) { promise->set_value(std::move(reply)); });
    auto reply = answer.get();  // bounded: the gateway answers within its snapshot timeout
    return reply.snapshot.value_or(stats_snapshot{});
  }
  // The balancer's figures of worker `index` (defaults when it has none).
  worker_figures worker_stats(size_t index = 0) {
    auto snapshot = stats();
    if (!snapshot.workers || snapshot.workers->list.size() <= index) return {};
    return snapshot.workers->list[index];
  }
  int ready_workers() {
    auto snapshot = stats();
    return snapshot.workers ? snapshot.workers->ready : 0;
  }
  bool wait_ready(int workers = 1) {
    return eventually([&] { return ready_workers() >= workers; });
  }
  void submit(generate_order order, progress_callback progress = {}) {
    gw->submit(std::move(order), results.callback(), std::move(progress));
  }

  gateway_settings settings;
  std::shared_ptr<fake_control> control = std::make_shared<fake_control>();
  outcomes results;
  std::unique_ptr<gateway> gw;
};

}  // namespace muse::actors::testing
