#include <catch2/catch.hpp>

#include "actors/latency_tracker.hpp"
#include "actors/rate_counter.hpp"

using namespace muse::actors;
using namespace std::chrono_literals;

TEST_CASE("latency percentiles use the nearest rank", "[stats]") {
  latency_tracker tracker;
  CHECK(tracker.percentile(50) == 0.0);
  for (int i = 1; i <= 100; ++i) tracker.add(i);
  CHECK(tracker.percentile(50) == 50.0);
  CHECK(tracker.percentile(95) == 95.0);
  CHECK(tracker.percentile(99) == 99.0);
  auto summary = tracker.summary();
  CHECK(summary.count == 100);
  CHECK(summary.p50 == 50.0);
  CHECK(summary.p99 == 99.0);
}

TEST_CASE("latency percentiles cover only the recent window", "[stats]") {
  latency_tracker tracker(4);
  for (double v : {100.0, 100.0, 100.0, 100.0, 1.0, 1.0, 1.0, 1.0}) tracker.add(v);
  CHECK(tracker.percentile(99) == 1.0);
  CHECK(tracker.count() == 8);
}

TEST_CASE("arrival rate is averaged over the window", "[stats]") {
  rate_counter rate(10s);
  auto t0 = rate_counter::clock::now();
  CHECK(rate.per_second(t0) == 0.0);
  rate.add(t0, 5);
  CHECK(rate.per_second(t0) == 5.0);  // younger than a second: counted as one second
  rate.add(t0 + 4s, 5);
  CHECK(rate.per_second(t0 + 5s) == Approx(2.0));
  CHECK(rate.per_second(t0 + 30s) == 0.0);  // all expired
  CHECK(rate.total() == 10);
}
