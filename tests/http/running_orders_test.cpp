// The orders in flight that A1111's progress reports: the oldest denoising one, else the oldest
// waiting; steps only go forward; an ended order is gone, and late progress for it is dropped.
#include "http/running_orders.hpp"

#include <catch2/catch.hpp>

using muse::http::running_orders;

TEST_CASE("running orders: the oldest running one, else the oldest waiting", "[running_orders]") {
  running_orders orders;
  CHECK_FALSE(orders.current());

  orders.submitted("a", 10, 1);
  orders.submitted("b", 20, 2);
  orders.submitted("c", 5, 1);
  REQUIRE(orders.current());
  CHECK(orders.current()->id == "a");
  CHECK_FALSE(orders.current()->running());
  CHECK(orders.current()->total == 10);

  orders.stepped("c", 2, 5);
  CHECK(orders.current()->id == "c");
  orders.stepped("b", 1, 20);
  CHECK(orders.current()->id == "b");  // older than c, and running
  CHECK(orders.current()->images == 2);

  // Steps never go back; a reported total replaces the submitted one.
  orders.stepped("b", 7, 18);
  orders.stepped("b", 3, 18);
  CHECK(orders.current()->step == 7);
  CHECK(orders.current()->total == 18);

  orders.ended("b");
  CHECK(orders.current()->id == "c");
  orders.ended("c");
  CHECK(orders.current()->id == "a");
  orders.stepped("c", 4, 5);  // late progress of an ended order
  CHECK(orders.size() == 1);
  orders.ended("a");
  orders.ended("a");
  CHECK_FALSE(orders.current());
  CHECK(orders.size() == 0);
}
