#include "tools/bench/bench_result.hpp"

#include <catch2/catch.hpp>

using namespace muse::bench;

namespace {
bench_options options() {
  return parse_options({"--users", "8", "--requests", "10", "--n", "2", "--label", "batching on"});
}
tally sample_tally() {
  tally t;
  t.ok = 4;
  t.ok_in_window = 4;
  t.latencies_ms = {40, 10, 30, 20};
  t.by_status = {{503, 2}, {429, 1}};
  t.connect_errors = 1;
  t.timeouts = 1;
  t.warmup_requests = 3;
  t.first_error = "status 503: no worker";
  return t;
}
}  // namespace

TEST_CASE("tallies merge and count failures of every kind") {
  tally a = sample_tally();
  CHECK(a.failed() == 5);
  CHECK(a.measured() == 9);
  tally b;
  b.ok = 1;
  b.ok_in_window = 2;
  b.latencies_ms = {5};
  b.by_status = {{503, 1}};
  b.protocol_errors = 2;
  b.connection_errors = 1;
  b.first_error = "later";
  a.merge(b);
  CHECK(a.ok == 5);
  CHECK(a.ok_in_window == 6);
  CHECK(a.by_status[503] == 3);
  CHECK(a.failed() == 9);
  CHECK(a.latencies_ms.size() == 5);
  CHECK(a.first_error == "status 503: no worker");
}

TEST_CASE("throughput counts successful requests over the measured time") {
  const auto r = make_result(sample_tally(), 2.0, 2);
  CHECK(r.requests_per_s() == 2.0);
  CHECK(r.images_per_s() == 4.0);
  CHECK(r.latency.p50 == 20);
  CHECK(r.latency.max == 40);
  CHECK_FALSE(r.all_failed());
  tally none;
  none.timeouts = 3;
  const auto failed = make_result(none, 1.0, 1);
  CHECK(failed.all_failed());
  CHECK(failed.requests_per_s() == 0);
  CHECK(make_result(tally{}, 0, 1).requests_per_s() == 0);
}

TEST_CASE("the JSON result holds counts, throughput, latency and the settings") {
  const auto j = to_json(make_result(sample_tally(), 2.0, 2), options());
  CHECK(j["tool"] == "muse-bench");
  CHECK(j["settings"]["users"] == 8);
  CHECK(j["settings"]["label"] == "batching on");
  CHECK(j["requests"]["ok"] == 4);
  CHECK(j["requests"]["ok_in_window"] == 4);
  CHECK(j["requests"]["failed"] == 5);
  CHECK(j["requests"]["measured"] == 9);
  CHECK(j["requests"]["warmup"] == 3);
  CHECK(j["errors"]["by_status"]["503"] == 2);
  CHECK(j["errors"]["by_status"]["429"] == 1);
  CHECK(j["errors"]["connect"] == 1);
  CHECK(j["errors"]["timeout"] == 1);
  CHECK(j["errors"]["protocol"] == 0);
  CHECK(j["elapsed_s"] == 2.0);
  CHECK(j["interrupted"] == false);
  CHECK(j["throughput"]["requests_per_s"] == 2.0);
  CHECK(j["throughput"]["images_per_s"] == 4.0);
  for (const char* key : {"min", "mean", "p50", "p90", "p95", "p99", "max", "count"})
    CHECK(j["latency_ms"].contains(key));
  CHECK(j["latency_ms"]["p95"] == 40);
  CHECK(nlohmann::json::parse(j.dump()) == j);
}

TEST_CASE("the table names every kind of error that happened") {
  const std::string table = format_table(make_result(sample_tally(), 2.0, 2), options());
  CHECK_THAT(table, Catch::Contains("closed loop with 8 users (batching on)"));
  CHECK_THAT(table, Catch::Contains("4 of 9 measured (3 in warmup)"));
  CHECK_THAT(table, Catch::Contains("status 503"));
  CHECK_THAT(table, Catch::Contains("connect errors"));
  CHECK_THAT(table, Catch::Contains("2.00 requests/s, 4.00 images/s"));
  CHECK_THAT(table, Catch::Contains("p50 20.00"));
  CHECK(table.find("protocol errors") == std::string::npos);
}
