#include "actors/capacity_meter.hpp"

#include <algorithm>

namespace muse::actors {

double capacity_meter::update(const worker_pool_figures& pool) {
  totals interval, lifetime;
  std::map<std::string, totals> now;
  for (const auto& w : pool.list) {
    totals current{w.busy_s, w.steps_done, w.images_done, w.image_steps};
    lifetime.busy_s += current.busy_s;
    lifetime.steps += current.steps;
    lifetime.images += current.images;
    lifetime.image_steps += current.image_steps;
    totals before;
    if (auto it = last_.find(w.id); it != last_.end()) before = it->second;
    // A counter that went down is a new worker under an old id: all it did is new.
    if (current.busy_s < before.busy_s || current.steps < before.steps ||
        current.images < before.images || current.image_steps < before.image_steps)
      before = totals{};
    interval.busy_s += current.busy_s - before.busy_s;
    interval.steps += current.steps - before.steps;
    interval.images += current.images - before.images;
    interval.image_steps += current.image_steps - before.image_steps;
    now[w.id] = current;
  }
  last_ = std::move(now);
  const totals& rate = interval.busy_s > 0 && interval.steps > 0 ? interval : lifetime;
  // Steps per image: the mean step count of the images finished in the interval; when none
  // finished, the last one measured.
  const totals& mix = interval.images > 0 ? interval : lifetime;
  if ((interval.images > 0 || steps_per_image_ <= 0) && mix.images > 0 && mix.image_steps > 0)
    steps_per_image_ = static_cast<double>(mix.image_steps) / static_cast<double>(mix.images);
  // Nothing measured (no worker has run a step yet, or all are new): the last figure stands.
  if (rate.busy_s > 0 && rate.steps > 0 && steps_per_image_ > 0)
    last_measured_ = static_cast<double>(rate.steps) / rate.busy_s / steps_per_image_;
  // Full batches: the workers' lifetime calls by size (a step's time is the hardware's, not the
  // load's), one call being one step of each sample in it.
  std::vector<uint64_t> calls;
  std::vector<double> seconds;
  for (const auto& w : pool.list) {
    const size_t rows = std::min(w.calls_by_rows.size(), w.busy_s_by_rows.size());
    if (rows > calls.size()) {
      calls.resize(rows, 0);
      seconds.resize(rows, 0.0);
    }
    for (size_t i = 0; i < rows; ++i) {
      calls[i] += w.calls_by_rows[i];
      seconds[i] += w.busy_s_by_rows[i];
    }
  }
  const double full_s = full_call_seconds(calls, seconds);
  if (full_s > 0 && steps_per_image_ > 0)
    full_batch_ = static_cast<double>(calls.size()) / full_s / steps_per_image_;
  return last_measured_;
}

double full_call_seconds(const std::vector<uint64_t>& calls_by_rows,
                         const std::vector<double>& busy_s_by_rows) {
  const size_t rows = std::min(calls_by_rows.size(), busy_s_by_rows.size());
  if (rows == 0) return 0;
  if (calls_by_rows[rows - 1] > 0) return busy_s_by_rows[rows - 1] / calls_by_rows[rows - 1];
  // Weighted least squares of a call's seconds against its samples, over the sizes seen.
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, largest_mean = 0;
  int sizes = 0;
  for (size_t i = 0; i < rows; ++i) {
    if (calls_by_rows[i] == 0) continue;
    const double w = static_cast<double>(calls_by_rows[i]);
    const double x = static_cast<double>(i + 1);
    const double y = busy_s_by_rows[i] / w;
    n += w;
    sx += w * x;
    sy += w * y;
    sxx += w * x * x;
    sxy += w * x * y;
    largest_mean = y;
    ++sizes;
  }
  if (sizes < 2) return 0;
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  const double intercept = (sy - slope * sx) / n;
  return std::max(largest_mean, intercept + slope * static_cast<double>(rows));
}

namespace {
template <class Map>
typename Map::mapped_type value_of(const Map& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? typename Map::mapped_type{} : it->second;
}
}  // namespace

stats_snapshot of_model(const stats_snapshot& stats, const std::string& model) {
  stats_snapshot own;
  own.uptime_s = stats.uptime_s;
  own.ready = stats.ready;
  if (stats.queue) {
    queue_figures queue;
    queue.max = stats.queue->max;
    queue.arrivals_per_s = value_of(stats.queue->arrivals_by_model, model);
    queue.batcher_depth = value_of(stats.queue->batcher_depth_by_model, model);
    queue.balancer_backlog = stats.workers ? value_of(stats.workers->backlog_by_model, model) : 0;
    queue.depth = queue.batcher_depth + queue.balancer_backlog;
    own.queue = queue;
  }
  if (stats.workers) {
    worker_pool_figures pool;
    pool.capacity_per_worker = stats.workers->capacity_per_worker;
    for (auto& w : stats.workers->list) {
      if (w.model != model) continue;
      pool.ready += w.state == "ready" ? 1 : 0;
      ++pool.total;
      pool.list.push_back(w);
    }
    own.workers = std::move(pool);
  }
  return own;
}

scaling_inputs measured_load(const stats_snapshot& stats, capacity_meter& capacity) {
  scaling_inputs in;
  if (stats.queue) {
    in.arrivals_per_s = stats.queue->arrivals_per_s;
    in.queue_depth = stats.queue->depth;
  }
  if (stats.workers)
    for (auto& w : stats.workers->list) in.in_flight += w.in_flight;
  in.images_per_s_per_worker =
      stats.workers ? capacity.update(*stats.workers) : capacity.last_measured();
  in.full_batch_images_per_s = capacity.full_batch_measured();
  return in;
}

}  // namespace muse::actors
