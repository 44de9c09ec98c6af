#include "http/connection_limits.hpp"

#include <catch2/catch.hpp>

using muse::http::connection_limits;

TEST_CASE("connections are limited in all and per client address", "[connections]") {
  connection_limits limits(3, 2);
  CHECK(limits.admit("10.0.0.1"));
  limits.opened(1, "10.0.0.1");
  CHECK(limits.admit("10.0.0.1"));
  limits.opened(2, "10.0.0.1");
  CHECK_FALSE(limits.admit("10.0.0.1"));  // per client
  CHECK(limits.admit("10.0.0.2"));
  limits.opened(3, "10.0.0.2");
  CHECK_FALSE(limits.admit("10.0.0.3"));  // in all
  CHECK(limits.open() == 3);
  CHECK(limits.refused() == 2);

  limits.closed(1);
  limits.closed(1);  // told twice, counted once
  CHECK(limits.open() == 2);
  CHECK(limits.open_from("10.0.0.1") == 1);
  CHECK(limits.admit("10.0.0.1"));
  limits.opened(4, "10.0.0.1");
  limits.closed(99);  // never opened: nothing to end
  CHECK(limits.open() == 3);
  for (uint64_t id : {2, 3, 4}) limits.closed(id);
  CHECK(limits.open() == 0);
  CHECK(limits.open_from("10.0.0.1") == 0);
}
