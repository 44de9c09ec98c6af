#include "http/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include "tests/support/prometheus_check.hpp"

using namespace muse::actors;

namespace {

worker_figures worker(std::string id, std::string state, uint64_t in_flight, uint64_t batches,
                      uint64_t images, uint64_t steps, uint64_t saved, double per_s) {
  worker_figures w;
  w.id = std::move(id);
  w.model = "tiny";
  w.node = "local";
  w.device = "cpu";
  w.state = std::move(state);
  w.in_flight = in_flight;
  w.batches_done = batches;
  w.images_done = images;
  w.steps_done = steps;
  w.steps_saved = saved;
  w.images_per_s = per_s;
  w.busy_s = static_cast<double>(steps) / 10;
  return w;
}

stats_reply sample_stats() {
  stats_snapshot s;
  s.uptime_s = 12.5;
  s.ready = true;
  s.queue = queue_figures{};
  s.queue->depth = 3;
  s.queue->max = 1000;
  s.queue->keys = 1;
  s.queue->arrivals_per_s = 0.5;
  s.orders.accepted = 10;
  s.orders.completed = 9;
  s.orders.failed.at(static_cast<size_t>(failure::queue_full)) = 1;
  s.batches.done = 5;
  s.batches.images = 9;
  s.batches.mean_size = 1.8;
  s.batches.size_histogram = {{1, 2}, {2, 2}, {10, 1}};
  s.latency_ms.queue = {1.0, 2.0, 3.0, 9};
  s.latency_ms.inference = {100, 200, 300, 9};
  s.latency_ms.total = {101, 202, 303, 9};
  s.workers = worker_pool_figures{};
  s.workers->ready = 1;
  s.workers->total = 2;
  s.workers->list = {worker("w1", "ready", 2, 3, 5, 100, 4, 1.2),
                     worker("w\"2", "loading", 0, 0, 0, 0, 0, 0)};
  s.nodes = {node_figures{"gpu-1", "up", 2, 0.5, 0},
             node_figures{"gpu-2", "unreachable", 0, 10.5, 13}};
  model_figures tiny;
  tiny.name = "tiny";
  tiny.ready_workers = 1;
  tiny.workers = 2;
  tiny.queue_depth = 3;
  tiny.arrivals_per_s = 0.5;
  tiny.completed = 9;
  tiny.failed = 1;
  tiny.images = 9;
  model_figures idle;
  idle.name = "idle";
  s.models = {tiny, idle};
  return stats_reply{s, true, {}};
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

  CHECK(
      s.at(
          R"(muse_worker_steps_saved_total{worker="w1",node="local",device="cpu",model="tiny"})") ==
      4);
  CHECK(
      s.at(
          R"(muse_worker_busy_seconds_total{worker="w1",node="local",device="cpu",model="tiny"})") ==
      10);
  CHECK(
      s.at(
          R"(muse_worker_state{worker="w\"2",node="local",device="cpu",model="tiny",state="loading"})") ==
      1);

  CHECK(s.at(R"(muse_model_workers_ready{model="tiny"})") == 1);
  CHECK(s.at(R"(muse_model_workers{model="tiny"})") == 2);
  CHECK(s.at(R"(muse_model_queue_depth{model="tiny"})") == 3);
  CHECK(s.at(R"(muse_model_arrivals_per_second{model="tiny"})") == 0.5);
  CHECK(s.at(R"(muse_model_orders_completed_total{model="tiny"})") == 9);
  CHECK(s.at(R"(muse_model_orders_failed_total{model="tiny"})") == 1);
  CHECK(s.at(R"(muse_model_images_total{model="tiny"})") == 9);
  CHECK(s.at(R"(muse_model_workers_ready{model="idle"})") == 0);

  CHECK(s.at(R"(muse_node_state{node="gpu-1",state="up"})") == 1);
  CHECK(s.at(R"(muse_node_state{node="gpu-2",state="unreachable"})") == 1);
  CHECK(s.at(R"(muse_node_state_seconds{node="gpu-2"})") == 2);
  CHECK(s.at(R"(muse_node_workers{node="gpu-1"})") == 2);
  CHECK(s.at(R"(muse_node_workers{node="gpu-2"})") == 0);
}

TEST_CASE("metrics without a snapshot are still valid text", "[prometheus]") {
  muse::http::http_metrics http;
  stats_reply none{std::nullopt, false, "the gateway has shut down"};
  auto parsed = muse::testing::parse_prometheus(muse::http::render_prometheus(none, http.read()));
  CHECK(parsed.problems.empty());
  CHECK(parsed.samples.at("muse_http_requests_in_flight") == 0);
  CHECK(parsed.samples.at("muse_ready") == 0);
  CHECK(parsed.samples.count("muse_queue_depth") == 0);
  CHECK(parsed.samples.count("muse_uptime_seconds") == 0);
}

TEST_CASE("a snapshot whose batcher and balancer did not answer skips their figures",
          "[prometheus]") {
  muse::http::http_metrics http;
  auto partial = sample_stats();
  partial.snapshot->queue.reset();
  partial.snapshot->workers.reset();
  auto parsed =
      muse::testing::parse_prometheus(muse::http::render_prometheus(partial, http.read()));
  CHECK(parsed.problems.empty());
  CHECK(parsed.samples.at("muse_uptime_seconds") == 12.5);
  CHECK(parsed.samples.at("muse_orders_accepted_total") == 10);
  CHECK(parsed.samples.count("muse_queue_depth") == 0);
  CHECK(parsed.samples.count("muse_workers_ready") == 0);
}

TEST_CASE("the checker itself rejects text that is not Prometheus", "[prometheus]") {
  CHECK(!muse::testing::parse_prometheus("nonsense here\n").problems.empty());
  CHECK(!muse::testing::parse_prometheus("undeclared 1\n").problems.empty());
  CHECK(muse::testing::parse_prometheus("# TYPE a gauge\na{x=\"1\"} 2.5\n").problems.empty());
}
