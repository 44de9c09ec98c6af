#include "tools/bench/latency_stats.hpp"

#include <catch2/catch.hpp>

using namespace muse::bench;

namespace {
std::vector<double> one_to(int n) {
  std::vector<double> v;
  for (int i = 1; i <= n; ++i) v.push_back(i);
  return v;
}
}  // namespace

TEST_CASE("nearest rank picks an observed sample with at least p% at or below it") {
  const auto hundred = one_to(100);
  CHECK(nearest_rank(hundred, 50) == 50);
  CHECK(nearest_rank(hundred, 90) == 90);
  CHECK(nearest_rank(hundred, 95) == 95);  // 0.95 * 100 must not round up to 96
  CHECK(nearest_rank(hundred, 99) == 99);
  CHECK(nearest_rank(hundred, 100) == 100);
  CHECK(nearest_rank(hundred, 0) == 1);
  CHECK(nearest_rank(hundred, 99.5) == 100);

  const auto ten = one_to(10);
  CHECK(nearest_rank(ten, 50) == 5);
  CHECK(nearest_rank(ten, 51) == 6);
  CHECK(nearest_rank(ten, 95) == 10);
  CHECK(nearest_rank(ten, 90) == 9);

  CHECK(nearest_rank({7.5}, 1) == 7.5);
  CHECK(nearest_rank({7.5}, 99) == 7.5);
}

TEST_CASE("nearest rank refuses no samples and percentiles outside 0..100") {
  CHECK_THROWS_AS(nearest_rank({}, 50), std::invalid_argument);
  CHECK_THROWS_AS(nearest_rank({1, 2}, -1), std::invalid_argument);
  CHECK_THROWS_AS(nearest_rank({1, 2}, 100.5), std::invalid_argument);
}

TEST_CASE("summarize sorts and reports min, mean, percentiles and max") {
  std::vector<double> samples = one_to(20);
  std::reverse(samples.begin(), samples.end());
  const latency_summary s = summarize(samples);
  CHECK(s.count == 20);
  CHECK(s.min == 1);
  CHECK(s.max == 20);
  CHECK(s.mean == Approx(10.5));
  CHECK(s.p50 == 10);
  CHECK(s.p90 == 18);
  CHECK(s.p95 == 19);
  CHECK(s.p99 == 20);
}

TEST_CASE("summarize of no samples is all zeros") {
  const latency_summary s = summarize({});
  CHECK(s.count == 0);
  CHECK(s.p50 == 0);
  CHECK(s.max == 0);
  CHECK(s.mean == 0);
}
