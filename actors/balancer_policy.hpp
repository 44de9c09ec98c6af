#pragma once
// Which worker gets the next batch. Pure logic: the balancer actor feeds it each worker's load.
//   round_robin:  the next worker after the last one chosen that is ready and has room;
//   least_loaded: the ready worker with room and the fewest samples in flight; ties go to the
//                 first such worker in round-robin order.
// "Room": in_flight + batch size <= capacity, or the worker is idle (a batch never waits for a
// worker that could take it alone).

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace muse::actors {

struct worker_load {
  bool ready = false;
  size_t in_flight = 0;  // samples
  size_t capacity = 0;   // samples it may hold (running + waiting to join)
};

class balancer_policy {
 public:
  enum class kind { round_robin, least_loaded };

  explicit balancer_policy(kind k) : kind_(k) {}
  // Throws std::invalid_argument for a name other than round_robin | least_loaded.
  static balancer_policy from_name(const std::string& name);

  // Index of the chosen worker, none if no worker can take the batch now.
  std::optional<size_t> choose(const std::vector<worker_load>& workers, size_t batch_size);
  kind which() const { return kind_; }

 private:
  kind kind_;
  size_t next_ = 0;  // where the round-robin order starts
};

}  // namespace muse::actors
