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
      upper_(std::max(settings_.min_workers, std::min(settings_.max_workers, slots))) {}

int scaling_policy::wanted(const scaling_inputs& in, std::string& why) const {
  const int workers = std::max(in.workers, 0);
  const auto pending = static_cast<double>(in.queue_depth);
  const double batch = max_batch_size_;
  if (settings_.policy == "queue_threshold" || in.images_per_s_per_worker <= 0) {
    // The original rule; also the capacity policy's rule until a throughput has been measured.
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
  if (current < settings_.min_workers) {
    low_intervals_ = 0;
    decision = {settings_.min_workers, scaling_action::up,
                "below min_workers " + std::to_string(settings_.min_workers)};
  } else if (current > upper_) {
    low_intervals_ = 0;
    decision = {upper_, scaling_action::down, "above the upper bound " + std::to_string(upper_)};
  } else if (wanted_count > current) {
    low_intervals_ = 0;
    decision = {wanted_count, scaling_action::up, why};
  } else if (wanted_count < current) {
    ++low_intervals_;
    if (low_intervals_ >= settings_.scale_down_after) {
      low_intervals_ = 0;
      decision = {current - 1, scaling_action::down,
                  why + "; low for " + std::to_string(settings_.scale_down_after) + " intervals"};
    } else {
      decision = {current, scaling_action::hold,
                  why + "; low for " + std::to_string(low_intervals_) + " of " +
                      std::to_string(settings_.scale_down_after) + " intervals"};
    }
  } else {
    low_intervals_ = 0;
    decision = {current, scaling_action::hold, why};
  }
  return decision;
}

}  // namespace muse::actors
