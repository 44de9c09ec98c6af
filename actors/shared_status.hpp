#pragma once
// The few facts the gateway facade must read without asking an actor (readiness for /readyz,
// admission at submit, the served model's limits). The balancer writes them; everything lives in
// the gateway process.

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "actors/stats_snapshot.hpp"

namespace muse::actors {

class shared_status {
 public:
  std::atomic<int> ready_workers{0};
  std::atomic<int> total_workers{0};
  std::atomic<bool> shutting_down{false};
  std::atomic<long> open_orders{0};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  void set_model(served_model model) {
    std::lock_guard<std::mutex> lock(mutex_);
    model_ = std::move(model);
  }
  std::optional<served_model> model() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return model_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<served_model> model_;
};

}  // namespace muse::actors
