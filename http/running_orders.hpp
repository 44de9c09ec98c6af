#pragma once
// The orders this gateway has in flight and how far each has come, for the routes that report
// what is running rather than one job's progress (A1111's /sdapi/v1/progress). Every generating
// route's order passes submit_order (order.hpp), which keeps this up to date: an order is added
// when it is submitted, its steps counted as the gateway reports them, and it is removed with
// its outcome. Thread-safe: progress and outcomes come on the gateway's actor threads.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace muse::http {

class running_orders {
 public:
  struct order {
    std::string id;
    std::chrono::steady_clock::time_point submitted;
    std::chrono::system_clock::time_point submitted_at;  // wall clock, for timestamps
    int step = 0;   // denoising steps done (of its slowest image)
    int total = 0;  // denoising steps that run
    size_t images = 0;
    // Whether the gateway has reported a step: the order is being denoised, not waiting.
    bool running() const { return step > 0; }
  };

  void submitted(const std::string& id, int total, size_t images);
  void stepped(const std::string& id, int step, int total);
  void ended(const std::string& id);

  // The one order to report: the oldest that is running, else the oldest waiting; none when
  // nothing is in flight.
  std::optional<order> current() const;
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  uint64_t next_sequence_ = 0;
  // By submission: the first of them is the oldest.
  std::map<uint64_t, order> by_sequence_;
  std::map<std::string, uint64_t> sequence_of_;
};

}  // namespace muse::http
