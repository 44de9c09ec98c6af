#include "actors/rate_counter.hpp"

#include <algorithm>

namespace muse::actors {

void rate_counter::add(clock::time_point now, uint64_t count) {
  expire(now);
  if (!first_) first_ = now;
  if (buckets_.empty() || now - buckets_.back().first >= std::chrono::seconds(1))
    buckets_.emplace_back(now, count);
  else
    buckets_.back().second += count;
  total_ += count;
}

double rate_counter::per_second(clock::time_point now) {
  expire(now);
  if (!first_) return 0.0;
  uint64_t sum = 0;
  for (auto& bucket : buckets_) sum += bucket.second;
  // A young counter divides by its age, not the full window, so that a burst shows at once;
  // at least one second so that a single arrival does not read as a huge rate.
  double age = std::chrono::duration<double>(now - *first_).count();
  double span = std::clamp(age, 1.0, static_cast<double>(window_.count()));
  return static_cast<double>(sum) / span;
}

void rate_counter::expire(clock::time_point now) {
  while (!buckets_.empty() && now - buckets_.front().first > window_) buckets_.pop_front();
}

}  // namespace muse::actors
