#include "http/router.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

using muse::http::route_match;
using muse::http::router;

TEST_CASE("routes match by method and path", "[router]") {
  router r;
  size_t generate = r.add("POST", "/api/v1/generate");
  size_t health = r.add("GET", "/healthz");
  size_t job = r.add("GET", "/api/v1/jobs/{id}");
  size_t cancel = r.add("DELETE", "/api/v1/jobs/{id}");

  auto m = r.match("POST", "/api/v1/generate");
  CHECK(m.result == route_match::kind::found);
  CHECK(m.index == generate);
  CHECK(m.pattern == "/api/v1/generate");

  CHECK(r.match("GET", "/healthz").index == health);
  CHECK(r.match("GET", "/healthz/").result == route_match::kind::found);

  auto j = r.match("GET", "/api/v1/jobs/abc123");
  CHECK(j.result == route_match::kind::found);
  CHECK(j.index == job);
  CHECK(j.pattern == "/api/v1/jobs/{id}");
  CHECK(j.params.at("id") == "abc123");
  CHECK(r.match("DELETE", "/api/v1/jobs/abc123").index == cancel);
}

TEST_CASE("an unknown path is not found and a known one with another method is 405", "[router]") {
  router r;
  r.add("POST", "/api/v1/generate");
  r.add("GET", "/api/v1/jobs/{id}");
  r.add("DELETE", "/api/v1/jobs/{id}");

  CHECK(r.match("GET", "/nope").result == route_match::kind::not_found);
  CHECK(r.match("GET", "/api/v1/generate/extra").result == route_match::kind::not_found);
  CHECK(r.match("GET", "/api/v1/jobs/").result == route_match::kind::not_found);
  CHECK(r.match("GET", "/api/v1/jobs//x").result == route_match::kind::not_found);
  CHECK(r.match("GET", "").result == route_match::kind::not_found);
  CHECK(r.match("GET", "api/v1/generate").result == route_match::kind::not_found);

  auto wrong = r.match("GET", "/api/v1/generate");
  CHECK(wrong.result == route_match::kind::method_not_allowed);
  CHECK(wrong.allow == "POST");
  CHECK(wrong.pattern == "/api/v1/generate");

  auto job = r.match("PUT", "/api/v1/jobs/7");
  CHECK(job.result == route_match::kind::method_not_allowed);
  CHECK(job.allow == "GET, DELETE");
}

TEST_CASE("bad or repeated patterns are refused", "[router]") {
  router r;
  r.add("GET", "/a");
  CHECK_THROWS_AS(r.add("GET", "/a"), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "a"), std::invalid_argument);
  CHECK_NOTHROW(r.add("POST", "/a"));
}
