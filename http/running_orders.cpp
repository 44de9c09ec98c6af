#include "http/running_orders.hpp"

namespace muse::http {

void running_orders::submitted(const std::string& id, int total, size_t images) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sequence_of_.count(id)) return;
  order entry;
  entry.id = id;
  entry.submitted = std::chrono::steady_clock::now();
  entry.submitted_at = std::chrono::system_clock::now();
  entry.total = total;
  entry.images = images;
  const uint64_t sequence = next_sequence_++;
  by_sequence_.emplace(sequence, std::move(entry));
  sequence_of_.emplace(id, sequence);
}

void running_orders::stepped(const std::string& id, int step, int total) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sequence_of_.find(id);
  if (it == sequence_of_.end()) return;
  order& entry = by_sequence_.at(it->second);
  if (step > entry.step) entry.step = step;
  if (total > 0) entry.total = total;
}

void running_orders::ended(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sequence_of_.find(id);
  if (it == sequence_of_.end()) return;
  by_sequence_.erase(it->second);
  sequence_of_.erase(it);
}

std::optional<running_orders::order> running_orders::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (by_sequence_.empty()) return std::nullopt;
  for (const auto& [sequence, entry] : by_sequence_)
    if (entry.running()) return entry;
  return by_sequence_.begin()->second;
}

size_t running_orders::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return by_sequence_.size();
}

}  // namespace muse::http
