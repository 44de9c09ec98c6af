#include <catch2/catch.hpp>

#include "actors/scaling_policy.hpp"

using muse::actors::scaling_action;
using muse::actors::scaling_inputs;
using muse::actors::scaling_policy;

namespace {

muse::config::autoscale_config settings(const std::string& policy = "capacity") {
  muse::config::autoscale_config s;
  s.interval_s = 10;
  s.min_workers = 1;
  s.max_workers = 6;
  s.target_utilisation = 0.5;
  s.scale_down_after = 3;
  s.policy = policy;
  return s;
}

scaling_inputs load(double arrivals, uint64_t queue, int workers, double per_worker) {
  scaling_inputs in;
  in.arrivals_per_s = arrivals;
  in.queue_depth = queue;
  in.workers = workers;
  in.images_per_s_per_worker = per_worker;
  return in;
}

}  // namespace

TEST_CASE("capacity: grows to the workers the arrival rate needs at once", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  // 3 images/s, one worker serves 2/s at 50% = 1/s -> 3 workers.
  auto d = policy.decide(load(3, 0, 1, 2));
  CHECK(d.action == scaling_action::up);
  CHECK(d.target == 3);
  CHECK(d.reason.find("demand 3") != std::string::npos);
}

TEST_CASE("capacity: the queue counts as demand to clear within one interval", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  // no arrivals, 40 waiting over 10 s = 4/s -> 4 workers.
  CHECK(policy.decide(load(0, 40, 1, 2)).target == 4);
}

TEST_CASE("never beyond max_workers nor the slots of the nodes", "[scaling]") {
  scaling_policy by_max(settings(), 4, 100);
  CHECK(by_max.decide(load(1000, 0, 1, 1)).target == 6);
  scaling_policy by_slots(settings(), 4, 2);
  CHECK(by_slots.decide(load(1000, 0, 1, 1)).target == 2);
  CHECK(by_slots.upper_bound() == 2);
}

TEST_CASE("shrinks only after scale_down_after low intervals, one worker at a time",
          "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  auto idle = load(0, 0, 4, 2);
  CHECK(policy.decide(idle).action == scaling_action::hold);
  CHECK(policy.decide(idle).action == scaling_action::hold);
  auto third = policy.decide(idle);
  CHECK(third.action == scaling_action::down);
  CHECK(third.target == 3);
  // The count starts afresh after a step down.
  CHECK(policy.decide(load(0, 0, 3, 2)).action == scaling_action::hold);
}

TEST_CASE("a busy interval in between resets the low count (no flapping)", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  auto idle = load(0, 0, 3, 2);
  auto busy = load(3, 0, 3, 2);  // exactly 3 workers' worth
  for (int round = 0; round < 5; ++round) {
    CHECK(policy.decide(idle).action == scaling_action::hold);
    CHECK(policy.decide(idle).action == scaling_action::hold);
    CHECK(policy.decide(busy).action == scaling_action::hold);
  }
}

TEST_CASE("never below min_workers, and back up to it at once", "[scaling]") {
  auto s = settings();
  s.min_workers = 2;
  s.scale_down_after = 1;
  scaling_policy policy(s, 4, 8);
  CHECK(policy.decide(load(0, 0, 2, 2)).action == scaling_action::hold);
  auto d = policy.decide(load(0, 0, 0, 2));
  CHECK(d.action == scaling_action::up);
  CHECK(d.target == 2);
}

TEST_CASE("capacity without a measured throughput uses the queue rule", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  CHECK(policy.decide(load(0, 5, 1, 0)).target == 2);
  CHECK(policy.decide(load(0, 4, 1, 0)).action == scaling_action::hold);
}

TEST_CASE("queue_threshold: up when more wait than workers x max_batch_size", "[scaling]") {
  auto s = settings("queue_threshold");
  s.scale_down_after = 2;
  scaling_policy policy(s, 4, 8);
  CHECK(policy.decide(load(100, 8, 2, 50)).action == scaling_action::hold);  // rate is not its input
  auto up = policy.decide(load(0, 9, 2, 50));
  CHECK(up.action == scaling_action::up);
  CHECK(up.target == 3);
  // Down once what waits and runs would fit one worker fewer, after two low intervals.
  auto quiet = load(0, 1, 3, 50);
  CHECK(policy.decide(quiet).action == scaling_action::hold);
  CHECK(policy.decide(quiet).target == 2);
}

TEST_CASE("a decision names its action and says why", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  auto decision = policy.decide(load(3, 7, 1, 2));
  CHECK(std::string(to_string(decision.action)) == "up");
  CHECK(decision.reason.size() > 10);
}
