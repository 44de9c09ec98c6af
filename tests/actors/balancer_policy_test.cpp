#include "actors/balancer_policy.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

using namespace muse::actors;

namespace {
worker_load ready(size_t in_flight, size_t capacity = 16) { return {true, in_flight, capacity}; }
worker_load loading() { return {false, 0, 16}; }
}  // namespace

TEST_CASE("round_robin takes the ready workers in turn", "[balancer]") {
  balancer_policy policy(balancer_policy::kind::round_robin);
  std::vector<worker_load> workers{ready(0), ready(5), ready(0)};
  CHECK(policy.choose(workers, 1) == 0u);
  CHECK(policy.choose(workers, 1) == 1u);
  CHECK(policy.choose(workers, 1) == 2u);
  CHECK(policy.choose(workers, 1) == 0u);
}

TEST_CASE("round_robin skips workers that are not ready or have no room", "[balancer]") {
  balancer_policy policy(balancer_policy::kind::round_robin);
  std::vector<worker_load> workers{loading(), ready(15), ready(2)};
  CHECK(policy.choose(workers, 4) == 2u);  // worker 1: 15 + 4 > 16
  CHECK(policy.choose(workers, 4) == 2u);
  CHECK(policy.choose(workers, 1) == 1u);  // 15 + 1 fits
}

TEST_CASE("least_loaded takes the worker with the fewest samples in flight", "[balancer]") {
  balancer_policy policy(balancer_policy::kind::least_loaded);
  std::vector<worker_load> workers{ready(4), ready(1), ready(3)};
  CHECK(policy.choose(workers, 1) == 1u);
  workers[1].in_flight = 9;
  CHECK(policy.choose(workers, 1) == 2u);
}

TEST_CASE("least_loaded breaks ties in round-robin order", "[balancer]") {
  balancer_policy policy(balancer_policy::kind::least_loaded);
  std::vector<worker_load> workers{ready(0), ready(0), ready(0)};
  CHECK(policy.choose(workers, 1) == 0u);
  CHECK(policy.choose(workers, 1) == 1u);
  CHECK(policy.choose(workers, 1) == 2u);
  CHECK(policy.choose(workers, 1) == 0u);
}

TEST_CASE("no worker is chosen when none is ready or none has room", "[balancer]") {
  balancer_policy policy(balancer_policy::kind::least_loaded);
  CHECK_FALSE(policy.choose({}, 1));
  CHECK_FALSE(policy.choose({loading(), loading()}, 1));
  CHECK_FALSE(policy.choose({ready(14), ready(16)}, 4));
  // An idle worker takes a batch even above its capacity: nothing could take it otherwise.
  CHECK(policy.choose({ready(0, 2)}, 4) == 0u);
}

TEST_CASE("policies are named as in the config", "[balancer]") {
  CHECK(balancer_policy::from_name("round_robin").which() == balancer_policy::kind::round_robin);
  CHECK(balancer_policy::from_name("least_loaded").which() == balancer_policy::kind::least_loaded);
  CHECK_THROWS_AS(balancer_policy::from_name("random"), std::invalid_argument);
}
