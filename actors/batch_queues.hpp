#pragma once
// The batcher's bookkeeping, free of actors so that it can be tested with a made-up clock: one
// FIFO per batch key (model, size and scheduler, messages.hpp); a queue leaves as a batch when it
// holds max_batch_size samples or when its oldest sample has waited max_wait.

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"

namespace muse::actors {

class batch_queues {
 public:
  using clock = std::chrono::steady_clock;

  batch_queues(size_t max_batch_size, std::chrono::milliseconds max_wait);

  // Queues a sample; returns the batch its queue made if that queue is now full.
  std::optional<batch> push(sample_task task, clock::time_point now);
  // Batches of every queue whose oldest sample has waited max_wait by `now`.
  std::vector<batch> take_due(clock::time_point now);
  // When the next queue falls due (none when all are empty).
  std::optional<clock::time_point> next_due() const;
  // Drops the given samples wherever they wait; returns those it found.
  std::vector<sample_id> remove(const std::vector<sample_id>& ids);

  size_t depth() const { return depth_; }
  size_t keys() const { return queues_.size(); }
  // Samples waiting, by model.
  std::map<std::string, uint64_t> depth_by_model() const;

 private:
  struct waiting {
    sample_task task;
    clock::time_point since;
  };
  batch take(const batch_key& key, size_t count);

  size_t max_batch_size_;
  std::chrono::milliseconds max_wait_;
  std::map<batch_key, std::deque<waiting>> queues_;  // never holds an empty queue
  size_t depth_ = 0;
  uint64_t next_batch_id_ = 1;
};

}  // namespace muse::actors
