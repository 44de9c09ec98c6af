#include "actors/scaling_policy.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace muse::actors {
namespace {

std::string figure(double value) {
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

}  // namespace

const char* to_string(scaling_action action) {
  switch (action) {
    case scaling_action::up:
      return "up";
    case scaling_action::down:
      return "down";
    case scaling_action::hold:
      return "hold";
  }
  return "hold";
}

scaling_policy::scaling_policy(config::autoscale_config settings, int max_batch_size, int slots)
    : settings_(std::move(settings)),
      max_batch_size_(std::max(1, max_batch_size)),
      upper_(std::max(settings_.min_workers, std::min(settings_.max_workers, slots))),
      tick_s_(settings_.policy == "full_batch"
                  ? std::max(1, std::min(settings_.scale_up_check_s, settings_.interval_s))
                  : std::max(1, settings_.interval_s)),
      // Lower need for scale_down_after intervals: as many ticks, rounded up.
      low_ticks_needed_(std::max(
          1, (settings_.scale_down_after * settings_.interval_s + tick_s_ - 1) / tick_s_)) {}

int scaling_policy::wanted_full_batch(const scaling_inputs& in, std::string& why) const {
  const double per_worker =
      in.full_batch_images_per_s > 0 ? in.full_batch_images_per_s : in.images_per_s_per_worker;
  const auto waiting = static_cast<double>(in.queue_depth);
  const double demand = in.arrivals_per_s + waiting / settings_.backlog_s;
  const double load = demand / per_worker;
  const int margin = static_cast<int>(std::ceil(load + std::sqrt(load) - 1e-9));
  // The samples running need their workers whatever arrives (a closed loop of clients whose
  // requests outlast the arrival window has no arrivals, yet keeps workers busy).
  const int running = static_cast<int>((in.in_flight + static_cast<uint64_t>(max_batch_size_) - 1) /
                                       max_batch_size_);
  const int needed = std::max(margin, running);
  why = "demand " + figure(demand) + " images/s (arrivals " + figure(in.arrivals_per_s) + "/s + " +
        figure(waiting) + " waiting within " + figure(settings_.backlog_s) +
        " s), one worker serves " + figure(per_worker) + "/s" +
        (in.full_batch_images_per_s > 0 ? " in full batches" : " per busy second") + " -> load " +
        figure(load) + " + sqrt " + figure(std::sqrt(load)) +
        (running > margin ? ", " + std::to_string(in.in_flight) + " running" : std::string()) +
        " -> " + std::to_string(needed) + " workers";
  return needed;
}

int scaling_policy::wanted(const scaling_inputs& in, std::string& why) const {
  const int workers = std::max(in.workers, 0);
  const auto pending = static_cast<double>(in.queue_depth);
  const double batch = max_batch_size_;
  const bool measured = in.images_per_s_per_worker > 0 || in.full_batch_images_per_s > 0;
  if (settings_.policy == "queue_threshold" || !measured ||
      (settings_.policy == "capacity" && in.images_per_s_per_worker <= 0)) {
    // The original rule; also the other policies' rule until a throughput has been measured.
    if (pending > workers * batch) {
      why = figure(pending) + " samples waiting > " + std::to_string(workers) + " workers x " +
            std::to_string(max_batch_size_);
      return workers + 1;
    }
    if (workers > 0 && pending + in.in_flight < (workers - 1) * batch) {
      why = figure(pending + in.in_flight) + " samples waiting or running fit in " +
            std::to_string(workers - 1) + " workers";
      return workers - 1;
    }
    why = figure(pending) + " samples waiting fit " + std::to_string(workers) + " workers";
    return workers;
  }
  if (settings_.policy == "full_batch") return wanted_full_batch(in, why);
  // Capacity: the arrival rate, plus the work present now (waiting at the gateway and running on
  // the workers) served within one interval, against what one worker serves at the target
  // utilisation. The work present counts even when nothing new arrived: a closed loop of clients
  // whose requests outlast an interval has no arrivals in it, yet keeps its workers busy.
  const double per_worker = in.images_per_s_per_worker * settings_.target_utilisation;
  const auto running = static_cast<double>(in.in_flight);
  const double present = (pending + running) / settings_.interval_s;
  const double demand = in.arrivals_per_s + present;
  const int needed = static_cast<int>(std::ceil(demand / per_worker - 1e-9));
  why = "demand " + figure(demand) + " images/s (arrivals " + figure(in.arrivals_per_s) + "/s + " +
        figure(pending) + " waiting and " + figure(running) + " running within " +
        std::to_string(settings_.interval_s) + " s), one worker serves " +
        figure(in.images_per_s_per_worker) + "/s per busy second at " +
        figure(settings_.target_utilisation * 100) + "% -> " + std::to_string(needed) + " workers";
  return needed;
}

scaling_decision scaling_policy::decide(const scaling_inputs& inputs) {
  scaling_decision decision;
  std::string why;
  const int current = inputs.workers;
  const int unbounded = wanted(inputs, why);
  const int wanted_count = std::clamp(unbounded, settings_.min_workers, upper_);
  if (wanted_count != unbounded)
    why += " (bounded to " + std::to_string(settings_.min_workers) + ".." + std::to_string(upper_) +
           ")";
  const bool full_batch = settings_.policy == "full_batch";
  if (current < settings_.min_workers) {
    low_ticks_ = 0;
    highest_low_ = 0;
    decision = {settings_.min_workers, scaling_action::up,
                "below min_workers " + std::to_string(settings_.min_workers)};
  } else if (current > upper_) {
    low_ticks_ = 0;
    highest_low_ = 0;
    decision = {upper_, scaling_action::down, "above the upper bound " + std::to_string(upper_)};
  } else if (wanted_count > current) {
    low_ticks_ = 0;
    highest_low_ = 0;
    decision = {wanted_count, scaling_action::up, why};
  } else if (wanted_count < current) {
    ++low_ticks_;
    highest_low_ = std::max(highest_low_, wanted_count);
    const std::string span = full_batch ? std::to_string(low_ticks_needed_ * tick_s_) + " s"
                                        : std::to_string(settings_.scale_down_after) + " intervals";
    if (low_ticks_ >= low_ticks_needed_) {
      // full_batch: to the highest need of the low ticks at once; the others one at a time.
      const int target = full_batch ? highest_low_ : current - 1;
      low_ticks_ = 0;
      highest_low_ = 0;
      decision = {target, scaling_action::down, why + "; low for " + span};
    } else {
      decision = {current, scaling_action::hold,
                  why + "; low for " +
                      (full_batch ? std::to_string(low_ticks_ * tick_s_) + " of " + span
                                  : std::to_string(low_ticks_) + " of " + span)};
    }
  } else {
    low_ticks_ = 0;
    highest_low_ = 0;
    decision = {current, scaling_action::hold, why};
  }
  return decision;
}

}  // namespace muse::actors
