#pragma once
// The few facts the gateway facade must read without asking an actor (readiness for /readyz,
// admission at submit, each served model's limits and ready workers). The balancer writes them;
// everything lives in the gateway process.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/stats_snapshot.hpp"

namespace muse::actors {

class shared_status {
 public:
  std::atomic<int> ready_workers{0};
  std::atomic<int> total_workers{0};
  std::atomic<bool> shutting_down{false};
  std::atomic<long> open_orders{0};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // The config's model names, in its order (the first is the default); set before any actor
  // reads them, never changed after.
  // `idle_to_zero`: the models whose min_workers is 0, which may have no worker at all while
  // idle; an order for one waits for a worker to start rather than failing no_worker.
  explicit shared_status(std::vector<std::string> model_names = {},
                         std::set<std::string> idle_to_zero = {})
      : model_names_(std::move(model_names)), idle_to_zero_(std::move(idle_to_zero)) {}
  const std::vector<std::string>& model_names() const { return model_names_; }
  bool scales_to_zero(const std::string& name) const { return idle_to_zero_.count(name) != 0; }
  bool any_scales_to_zero() const { return !idle_to_zero_.empty(); }
  bool serves(const std::string& name) const {
    return std::find(model_names_.begin(), model_names_.end(), name) != model_names_.end();
  }
  // "" stands for the default model.
  std::string resolve(const std::string& name) const {
    return name.empty() && !model_names_.empty() ? model_names_.front() : name;
  }

  // A worker of this model has loaded it: its limits.
  void set_model(served_model model) {
    std::lock_guard<std::mutex> lock(mutex_);
    models_[model.name] = std::move(model);
  }
  std::optional<served_model> model(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = models_.find(resolve(name));
    if (it == models_.end()) return std::nullopt;
    return it->second;
  }
  // The balancer's count of ready workers by model.
  void set_ready_by_model(std::map<std::string, int> ready) {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_by_model_ = std::move(ready);
  }
  int ready_workers_of(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = ready_by_model_.find(resolve(name));
    return it == ready_by_model_.end() ? 0 : it->second;
  }

 private:
  const std::vector<std::string> model_names_;
  const std::set<std::string> idle_to_zero_;
  mutable std::mutex mutex_;
  std::map<std::string, served_model> models_;  // by name, once a worker loaded it
  std::map<std::string, int> ready_by_model_;
};

}  // namespace muse::actors
