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
  int tick_s() const override { return policy_.tick_s(); }

 private:
  actors::scaling_policy policy_;
};

class seed_rule : public scaler {
 public:
  seed_rule(int upper, int interval_s) : upper_(upper), interval_s_(interval_s) {}
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
  int tick_s() const override { return interval_s_; }

 private:
  int upper_;
  int interval_s_;
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
  int tick_s() const override { return settings_.autoscale.interval_s; }

 private:
  sim_settings settings_;
  trace load_;
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
  if (name == "full_batch" || name == "capacity" || name == "queue_threshold") {
    auto own = settings;
    own.autoscale.policy = name;
    return std::make_unique<project_policy>(own);
  }
  if (name == "seed")
    return std::make_unique<seed_rule>(settings.gpus, settings.autoscale.interval_s);
  if (name == "oracle") return std::make_unique<oracle>(settings, load);
  throw std::invalid_argument("unknown policy " + name +
                              " (seed, queue_threshold, capacity, full_batch, oracle)");
}

}  // namespace muse::sim
