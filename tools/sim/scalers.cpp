#include "tools/sim/scalers.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "actors/scaling_policy.hpp"

namespace muse::sim {
namespace {

constexpr int seed_requests_per_worker = 12;

class project_policy : public scaler {
 public:
  project_policy(const sim_settings& settings)
      : policy_(settings.autoscale, settings.max_batch_size, settings.gpus) {}
  int decide(const actors::scaling_inputs& inputs, double) override {
    return policy_.decide(inputs).target;
  }

 private:
  actors::scaling_policy policy_;
};

class seed_rule : public scaler {
 public:
  explicit seed_rule(int upper) : upper_(upper) {}
  int decide(const actors::scaling_inputs& in, double) override {
    const auto outstanding = in.queue_depth + in.in_flight;
    const int workers = in.workers;
    int wanted = workers;
    if (outstanding > static_cast<uint64_t>(workers) * seed_requests_per_worker)
      wanted = workers + 1;
    else if (workers > 1 &&
             outstanding < static_cast<uint64_t>(workers - 1) * seed_requests_per_worker)
      wanted = workers - 1;
    return std::clamp(wanted, 1, upper_);
  }

 private:
  int upper_;
};

class oracle : public scaler {
 public:
  oracle(const sim_settings& settings, const trace& load) : settings_(settings), load_(load) {}
  int decide(const actors::scaling_inputs&, double now) override {
    const double until = now + settings_.autoscale.interval_s + settings_.startup_s;
    double highest = 0;
    for (double t = now; t <= until; t += 1) highest = std::max(highest, load_.rate(t));
    highest = std::max(highest, load_.rate(until));
    return oracle_workers(highest, settings_);
  }

 private:
  sim_settings settings_;
  trace load_;
};

// Against capacity, the candidate changes three things:
// - capacity is what a worker serves in full batches (measured per batch size; here taken from
//   the service model), not the images per busy second at today's mean batch, which under light
//   load reads low and makes the pool grow when the batches would simply fill;
// - the margin over the load is sqrt(load) workers (what Poisson arrivals need), not a fixed
//   target utilisation of 80%, which at 1,000 GPUs leaves 200 idle;
// - after scale_down_after low intervals it goes down to what the load needs at once (the
//   highest need of those intervals), not one worker per scale_down_after intervals, which at
//   1,000 GPUs cannot follow a day's evening.
// The backlog is cleared within the SLO, not within an interval.
class candidate : public scaler {
 public:
  explicit candidate(const sim_settings& settings) : settings_(settings) {}
  int decide(const actors::scaling_inputs& in, double) override {
    const double per_worker = settings_.service.images_per_s(settings_.max_batch_size);
    const double demand = in.arrivals_per_s + in.queue_depth / settings_.slo_s;
    const double load = demand / per_worker;
    const int needed =
        std::clamp(static_cast<int>(std::ceil(load + std::sqrt(load) - 1e-9)), 1, settings_.gpus);
    if (needed >= in.workers) {
      low_intervals_ = 0;
      highest_low_ = 0;
      return needed;
    }
    highest_low_ = std::max(highest_low_, needed);
    if (++low_intervals_ < settings_.autoscale.scale_down_after) return in.workers;
    const int target = highest_low_;
    low_intervals_ = 0;
    highest_low_ = 0;
    return target;
  }

 private:
  sim_settings settings_;
  int low_intervals_ = 0;
  int highest_low_ = 0;
};

}  // namespace

int oracle_workers(double rate_per_s, const sim_settings& settings) {
  const double load = rate_per_s / settings.service.images_per_s(settings.max_batch_size);
  const int workers =
      static_cast<int>(std::ceil(load + settings.oracle_beta * std::sqrt(load) - 1e-9));
  return std::clamp(workers, 1, settings.gpus);
}

std::unique_ptr<scaler> make_scaler(const sim_settings& settings, const trace& load) {
  const auto& name = settings.policy;
  if (name == "queue_threshold" || name == "capacity") {
    auto own = settings;
    own.autoscale.policy = name;
    return std::make_unique<project_policy>(own);
  }
  if (name == "seed") return std::make_unique<seed_rule>(settings.gpus);
  if (name == "oracle") return std::make_unique<oracle>(settings, load);
  if (name == "candidate") return std::make_unique<candidate>(settings);
  throw std::invalid_argument("unknown policy " + name +
                              " (seed, queue_threshold, capacity, oracle, candidate)");
}

}  // namespace muse::sim
