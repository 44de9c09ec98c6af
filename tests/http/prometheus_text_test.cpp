#include "http/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include "prometheus_check.hpp"

using nlohmann::json;

namespace {

json sample_stats() {
  return json::parse(R"({
    "uptime_s": 12.5, "ready": true,
    "queue": {"depth": 3, "max": 1000, "keys": 1, "arrivals_per_s": 0.5},
    "orders": {"accepted": 10, "completed": 9,
               "failed": {"queue_full": 1, "no_worker": 0, "timeout": 0, "cancelled": 0,
                          "invalid_request": 0, "shutting_down": 0, "internal": 0}},
    "batches": {"done": 5, "images": 9, "mean_size": 1.8, "size_histogram": {"1": 2, "2": 2, "10": 1}},
    "latency_ms": {"queue": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "count": 9},
                   "inference": {"p50": 100, "p95": 200, "p99": 300, "count": 9},
                   "total": {"p50": 101, "p95": 202, "p99": 303, "count": 9}},
    "workers": {"ready": 1, "total": 2, "list": [
      {"id": "w1", "node": "local", "device": "cpu", "state": "ready", "in_flight": 2,
       "batches_done": 3, "images_done": 5, "mean_batch_size": 1.6, "steps_done": 100,
       "steps_saved": 4, "images_per_s": 1.2},
      {"id": "w\"2", "node": "local", "device": "cpu", "state": "loading", "in_flight": 0,
       "batches_done": 0, "images_done": 0, "mean_batch_size": 0, "steps_done": 0,
       "steps_saved": 0, "images_per_s": 0}]},
    "scaling": {"decisions": []}
  })");
}

}  // namespace

TEST_CASE("metrics render as valid Prometheus text with every figure", "[prometheus]") {
  muse::http::http_metrics http;
  http.record("/api/v1/generate", 200, std::chrono::milliseconds(1500));
  http.record("/api/v1/generate", 200, std::chrono::milliseconds(20));
  http.record("/api/v1/generate", 429, std::chrono::milliseconds(1));
  http.record("unmatched", 404, std::chrono::microseconds(100));

  auto parsed =
      muse::testing::parse_prometheus(muse::http::render_prometheus(sample_stats(), http.read()));
  INFO(muse::http::render_prometheus(sample_stats(), http.read()));
  CHECK(parsed.problems.empty());
  for (const auto& p : parsed.problems) UNSCOPED_INFO(p);

  const auto& s = parsed.samples;
  CHECK(s.at(R"(muse_http_requests_total{route="/api/v1/generate",status="200"})") == 2);
  CHECK(s.at(R"(muse_http_requests_total{route="/api/v1/generate",status="429"})") == 1);
  CHECK(s.at(R"(muse_http_requests_total{route="unmatched",status="404"})") == 1);
  CHECK(s.at(R"(muse_http_request_duration_seconds_bucket{route="/api/v1/generate",le="0.025"})") ==
        2);
  CHECK(s.at(R"(muse_http_request_duration_seconds_bucket{route="/api/v1/generate",le="2.5"})") ==
        3);
  CHECK(s.at(R"(muse_http_request_duration_seconds_bucket{route="/api/v1/generate",le="+Inf"})") ==
        3);
  CHECK(s.at(R"(muse_http_request_duration_seconds_count{route="/api/v1/generate"})") == 3);
  CHECK(s.at(R"(muse_http_request_duration_seconds_sum{route="/api/v1/generate"})") ==
        Approx(1.521));
  CHECK(parsed.types.at("muse_http_request_duration_seconds") == "histogram");

  CHECK(s.at("muse_queue_depth") == 3);
  CHECK(s.at("muse_ready") == 1);
  CHECK(s.at("muse_workers_ready") == 1);
  CHECK(s.at("muse_workers_total") == 2);
  CHECK(s.at(R"(muse_orders_failed_total{reason="queue_full"})") == 1);
  CHECK(s.at(R"(muse_order_latency_seconds{phase="inference",quantile="0.95"})") == Approx(0.2));

  // Batch sizes as a cumulative histogram, sorted numerically (10 after 2).
  CHECK(s.at(R"(muse_batch_size_bucket{le="1"})") == 2);
  CHECK(s.at(R"(muse_batch_size_bucket{le="2"})") == 4);
  CHECK(s.at(R"(muse_batch_size_bucket{le="10"})") == 5);
  CHECK(s.at(R"(muse_batch_size_bucket{le="+Inf"})") == 5);
  CHECK(s.at("muse_batch_size_sum") == 16);
  CHECK(s.at("muse_batch_size_count") == 5);

  CHECK(s.at(R"(muse_worker_steps_saved_total{worker="w1",node="local",device="cpu"})") == 4);
  CHECK(s.at(R"(muse_worker_state{worker="w\"2",node="local",device="cpu",state="loading"})") == 1);
}

TEST_CASE("metrics of an empty snapshot are still valid text", "[prometheus]") {
  muse::http::http_metrics http;
  auto parsed =
      muse::testing::parse_prometheus(muse::http::render_prometheus(json::object(), http.read()));
  CHECK(parsed.problems.empty());
  CHECK(parsed.samples.at("muse_http_requests_in_flight") == 0);
  CHECK(parsed.samples.count("muse_queue_depth") == 0);
}

TEST_CASE("the checker itself rejects text that is not Prometheus", "[prometheus]") {
  CHECK(!muse::testing::parse_prometheus("nonsense here\n").problems.empty());
  CHECK(!muse::testing::parse_prometheus("undeclared 1\n").problems.empty());
  CHECK(muse::testing::parse_prometheus("# TYPE a gauge\na{x=\"1\"} 2.5\n").problems.empty());
}
