#include "http/rate_limit.hpp"

#include <catch2/catch.hpp>
#include <chrono>

using muse::http::rate_limiter;
using namespace std::chrono_literals;

TEST_CASE("a client's bucket admits its burst, then one request per refill", "[rate_limit]") {
  rate_limiter limits(2.0, 3);  // 2 per second, bursts of 3
  const auto t0 = rate_limiter::clock::time_point{} + 100s;
  for (int i = 0; i < 3; ++i) CHECK_FALSE(limits.take("a", t0));
  auto wait = limits.take("a", t0);
  REQUIRE(wait);
  CHECK(*wait == 500ms);                // one token at 2 per second
  CHECK(limits.take("a", t0 + 250ms));  // half a token: still refused
  CHECK_FALSE(limits.take("a", t0 + 500ms));
  CHECK(limits.take("a", t0 + 500ms));
  // Idle for long, the bucket holds its burst and no more.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(limits.take("a", t0 + 60s));
  CHECK(limits.take("a", t0 + 60s));
}

TEST_CASE("clients have their own buckets", "[rate_limit]") {
  rate_limiter limits(1.0, 1);
  const auto t0 = rate_limiter::clock::time_point{} + 10s;
  CHECK_FALSE(limits.take("key a", t0));
  CHECK(limits.take("key a", t0));
  CHECK_FALSE(limits.take("key b", t0));
  CHECK_FALSE(limits.take("address 127.0.0.1", t0));
  CHECK(limits.clients() == 3);
}

TEST_CASE("a rate of 0 admits everything and keeps nothing", "[rate_limit]") {
  rate_limiter limits(0.0, 1);
  CHECK_FALSE(limits.enabled());
  const auto t0 = rate_limiter::clock::time_point{};
  for (int i = 0; i < 100; ++i) CHECK_FALSE(limits.take("a", t0));
  CHECK(limits.clients() == 0);
}

TEST_CASE("full buckets are forgotten once the table is large", "[rate_limit]") {
  rate_limiter limits(1.0, 2, 4);
  const auto t0 = rate_limiter::clock::time_point{} + 10s;
  for (int i = 0; i < 4; ++i) CHECK_FALSE(limits.take("c" + std::to_string(i), t0));
  CHECK(limits.clients() == 4);
  // Two seconds on, every bucket has refilled: the next new client prunes them all.
  CHECK_FALSE(limits.take("new", t0 + 2s));
  CHECK(limits.clients() == 1);
  // A bucket still short of its burst is kept.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(limits.take("d" + std::to_string(i), t0 + 2s));
  CHECK(limits.clients() == 4);
  CHECK_FALSE(limits.take("e", t0 + 2s));
  CHECK(limits.clients() == 5);
}
