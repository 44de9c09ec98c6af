#include "actors/capacity_meter.hpp"

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
  return last_measured_;
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
  return in;
}

}  // namespace muse::actors
