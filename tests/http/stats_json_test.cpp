#include "http/stats_json.hpp"

#include <catch2/catch.hpp>

using namespace muse::actors;
using nlohmann::json;

namespace {

stats_snapshot full_snapshot() {
  stats_snapshot s;
  s.uptime_s = 12.5;
  s.ready = true;
  served_model model;
  model.name = "tiny";
  model.limits.min_size = 16;
  model.limits.max_size = 256;
  model.limits.size_multiple = 8;
  model.limits.default_width = 64;
  model.limits.default_height = 64;
  model.limits.max_pixels = 65536;
  model.limits.memory_budget_mb = 512;
  model.limits.max_steps = 150;
  model.limits.schedulers = {"ddim", "euler"};
  s.model = model;
  s.queue = queue_figures{5, 1000, 2, 0.5, 40, 3, 2, {{"tiny", 3}}, {{"tiny", 0.5}}};
  model_figures tiny;
  tiny.name = "tiny";
  tiny.ready_workers = 1;
  tiny.workers = 1;
  tiny.queue_depth = 5;
  tiny.arrivals_per_s = 0.5;
  tiny.in_flight = 2;
  tiny.completed = 8;
  tiny.failed = 2;
  tiny.images = 8;
  s.models = {tiny};
  s.orders.accepted = 10;
  s.orders.completed = 8;
  s.orders.failed.at(static_cast<size_t>(failure::queue_full)) = 1;
  s.orders.failed.at(static_cast<size_t>(failure::timeout)) = 1;
  s.orders.open = 2;
  s.batches.done = 4;
  s.batches.images = 8;
  s.batches.mean_size = 2.0;
  s.batches.size_histogram = {{1, 2}, {3, 2}};
  s.latency_ms.queue = {1.5, 2, 3, 8};
  s.latency_ms.inference = {100, 200, 300, 8};
  s.latency_ms.total = {101.5, 202, 303, 8};
  worker_figures w;
  w.id = "w1";
  w.model = "tiny";
  w.node = "gpu-1";
  w.device = "cuda:0";
  w.state = "ready";
  w.in_flight = 2;
  w.batches_done = 4;
  w.images_done = 8;
  w.mean_batch_size = 2.0;
  w.steps_done = 200;
  w.steps_saved = 10;
  w.model_calls = 100;
  w.starts = 1;
  w.images_per_s = 0.25;
  w.busy_s = 40.5;
  w.image_steps = 200;
  w.calls_by_rows = {60, 40};
  w.busy_s_by_rows = {20.5, 20.0};
  s.workers = worker_pool_figures{1, 1, 16, {w}};
  scaling_record record;
  record.decision = {2, scaling_action::up, "demand 3 images/s"};
  record.inputs = {3.0, 7, 2, 1, 2.0, 2.5};
  record.policy = "capacity";
  record.model = "tiny";
  record.at_s = 30.0;
  s.decisions = {record};
  s.nodes = {node_figures{"gpu-1", "up", 1, 0.5, 0},
             node_figures{"gpu-2", "unreachable", 0, 9.25, 12.5}};
  return s;
}

}  // namespace

// The keys and number types (integer or not) that /api/v1/stats has always shown: actor-stats,
// the web page and operators' scripts read them.
TEST_CASE("the stats JSON has every documented key, as it always had", "[stats]") {
  auto expected = json::parse(R"({
    "uptime_s": 12.5, "ready": true,
    "model": {"name": "tiny", "limits": {"min_size": 16, "max_size": 256, "size_multiple": 8,
              "default_width": 64, "default_height": 64, "max_pixels": 65536,
              "memory_budget_mb": 512, "max_steps": 150, "schedulers": ["ddim", "euler"]}},
    "models": [{"name": "tiny", "limits": null, "ready_workers": 1, "workers": 1,
                "queue_depth": 5, "arrivals_per_s": 0.5, "in_flight": 2,
                "orders": {"completed": 8, "failed": 2, "images": 8}}],
    "queue": {"depth": 5, "max": 1000, "keys": 2, "arrivals_per_s": 0.5, "arrivals_total": 40,
              "batcher_depth": 3, "balancer_backlog": 2, "batcher_depth_by_model": {"tiny": 3},
              "arrivals_by_model": {"tiny": 0.5}},
    "orders": {"accepted": 10, "completed": 8, "open": 2,
               "failed": {"invalid_request": 0, "queue_full": 1, "no_worker": 0, "timeout": 1,
                          "cancelled": 0, "shutting_down": 0, "internal": 0}},
    "batches": {"done": 4, "images": 8, "mean_size": 2.0, "size_histogram": {"1": 2, "3": 2}},
    "latency_ms": {"queue": {"p50": 1.5, "p95": 2.0, "p99": 3.0, "count": 8},
                   "inference": {"p50": 100.0, "p95": 200.0, "p99": 300.0, "count": 8},
                   "total": {"p50": 101.5, "p95": 202.0, "p99": 303.0, "count": 8}},
    "workers": {"ready": 1, "total": 1, "capacity_per_worker": 16, "list": [
      {"id": "w1", "model": "tiny", "node": "gpu-1", "device": "cuda:0", "state": "ready", "in_flight": 2,
       "batches_done": 4, "images_done": 8, "mean_batch_size": 2.0, "steps_done": 200,
       "steps_saved": 10, "model_calls": 100, "starts": 1, "images_per_s": 0.25,
       "busy_s": 40.5, "image_steps": 200, "calls_by_rows": [60, 40],
       "busy_s_by_rows": [20.5, 20.0]}]},
    "scaling": {"decisions": [
      {"model": "tiny", "action": "up", "target": 2, "reason": "demand 3 images/s", "policy": "capacity",
       "at_s": 30.0, "inputs": {"arrivals_per_s": 3.0, "queue_depth": 7, "in_flight": 2,
                                "workers": 1, "images_per_s_per_worker": 2.0,
                                "full_batch_images_per_s": 2.5}}]},
    "nodes": [
      {"name": "gpu-1", "state": "up", "workers": 1, "since_s": 0.5, "retry_at_s": null},
      {"name": "gpu-2", "state": "unreachable", "workers": 0, "since_s": 9.25, "retry_at_s": 12.5}]
  })");
  // Text, not values: 2.0 and 2 are equal as numbers but print differently.
  CHECK(muse::http::stats_json(full_snapshot()).dump() == expected.dump());
}

TEST_CASE("parts that did not answer are null, as before", "[stats]") {
  stats_snapshot s;
  auto body = muse::http::stats_json(s);
  CHECK(body["model"].is_null());
  CHECK(body["queue"].is_null());
  CHECK(body["workers"].is_null());
  CHECK(body["batches"]["mean_size"].is_number_float());
  CHECK(body["scaling"]["decisions"] == json::array());
  CHECK(body["nodes"] == json::array());
  CHECK(body["orders"]["failed"].size() == std::size(all_failures));
}

TEST_CASE("a reply without a snapshot says whether the gateway is ready, and why", "[stats]") {
  auto body = muse::http::stats_json(stats_reply{std::nullopt, false, "the gateway has shut down"});
  CHECK(body == json{{"ready", false}, {"error", "the gateway has shut down"}});
}
