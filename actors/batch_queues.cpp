#include "actors/batch_queues.hpp"

#include <algorithm>
#include <unordered_set>

namespace muse::actors {

batch_queues::batch_queues(size_t max_batch_size, std::chrono::milliseconds max_wait)
    : max_batch_size_(std::max<size_t>(1, max_batch_size)), max_wait_(max_wait) {}

std::optional<batch> batch_queues::push(sample_task task, clock::time_point now) {
  auto key = batch_key_of(task);
  auto& queue = queues_[key];
  queue.push_back(waiting{std::move(task), now});
  ++depth_;
  if (queue.size() >= max_batch_size_) return take(key, max_batch_size_);
  return std::nullopt;
}

std::vector<batch> batch_queues::take_due(clock::time_point now) {
  std::vector<batch_key> due;
  for (auto& [key, queue] : queues_)
    if (queue.front().since + max_wait_ <= now) due.push_back(key);
  std::vector<batch> result;
  for (auto& key : due) result.push_back(take(key, max_batch_size_));
  return result;
}

std::optional<batch_queues::clock::time_point> batch_queues::next_due() const {
  std::optional<clock::time_point> earliest;
  for (auto& [key, queue] : queues_) {
    auto due = queue.front().since + max_wait_;
    if (!earliest || due < *earliest) earliest = due;
  }
  return earliest;
}

std::vector<sample_id> batch_queues::remove(const std::vector<sample_id>& ids) {
  std::unordered_set<sample_id> wanted(ids.begin(), ids.end());
  std::vector<sample_id> found;
  for (auto it = queues_.begin(); it != queues_.end();) {
    auto& queue = it->second;
    for (auto w = queue.begin(); w != queue.end();) {
      if (wanted.count(w->task.id) != 0) {
        found.push_back(w->task.id);
        w = queue.erase(w);
        --depth_;
      } else {
        ++w;
      }
    }
    it = queue.empty() ? queues_.erase(it) : std::next(it);
  }
  return found;
}

std::map<std::string, uint64_t> batch_queues::depth_by_model() const {
  std::map<std::string, uint64_t> depth;
  for (auto& [key, queue] : queues_) depth[key.model] += queue.size();
  return depth;
}

batch batch_queues::take(const batch_key& key, size_t count) {
  auto it = queues_.find(key);
  auto& queue = it->second;
  batch result;
  result.id = next_batch_id_++;
  result.key = key;
  while (!queue.empty() && result.samples.size() < count) {
    result.samples.push_back(std::move(queue.front().task));
    queue.pop_front();
    --depth_;
  }
  if (queue.empty()) queues_.erase(it);
  return result;
}

}  // namespace muse::actors
