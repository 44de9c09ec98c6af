#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>

#include "actors/balancer.hpp"
#include "tests/actors/gateway_harness.hpp"

using namespace muse::actors;
using namespace muse::actors::testing;
using namespace std::chrono_literals;

TEST_CASE("an order gets one image per sample, each from its own seed and prompt", "[gateway]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  CHECK(p.gw->ready());
  CHECK(p.gw->limits().max_size == 64);
  auto a = sample(7), b = sample(8, 4, 16, "a harbour");
  p.submit(make_order("o1", {a, b}));
  auto outcome = p.results.wait("o1");
  REQUIRE(outcome);
  REQUIRE_FALSE(outcome->error);
  REQUIRE(outcome->images.size() == 2);
  CHECK(outcome->images[0].png == muse::model::encode_png(expected_image(a)));
  CHECK(outcome->images[0].seed == 7);
  CHECK(outcome->images[1].png == muse::model::encode_png(expected_image(b)));
  CHECK(outcome->images[1].seed == 8);
  CHECK(outcome->steps == 4);
  CHECK(outcome->inference_ms > 0);
  CHECK(outcome->total_ms >= outcome->inference_ms);
  CHECK(outcome->total_ms >= outcome->queue_ms);
}

TEST_CASE("a full queue leaves as one batch without waiting for max_wait_ms", "[gateway]") {
  gateway_settings s;
  s.max_batch_size = 3;
  s.max_wait_ms = 3000;
  s.step_level = false;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) p.submit(make_order("o" + std::to_string(i), {sample(i)}));
  for (int i = 0; i < 3; ++i) REQUIRE(p.results.wait("o" + std::to_string(i)));
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  auto stats = p.stats();
  CHECK(stats.batches.size_histogram[3] == 1);
  CHECK(p.control->max_step_size() == 3);
}

TEST_CASE("a lone sample leaves after max_wait_ms", "[gateway]") {
  gateway_settings s;
  s.max_batch_size = 8;
  s.max_wait_ms = 150;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  p.submit(make_order("lone", {sample(1)}));
  auto outcome = p.results.wait("lone");
  REQUIRE(outcome);
  REQUIRE_FALSE(outcome->error);
  CHECK(outcome->queue_ms >= 140);
  CHECK(outcome->queue_ms < 2000);
}

TEST_CASE("samples with different batch keys never share a model call", "[gateway]") {
  gateway_settings s;
  s.max_batch_size = 4;
  s.max_wait_ms = 20;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  for (int i = 0; i < 12; ++i) {
    auto s = sample(i, 3 + i % 2, i % 3 == 0 ? 32 : 16);
    if (i % 4 == 1) s.scheduler = "euler";
    p.submit(make_order("k" + std::to_string(i), {s}));
  }
  for (int i = 0; i < 12; ++i) {
    auto outcome = p.results.wait("k" + std::to_string(i));
    REQUIRE(outcome);
    CHECK_FALSE(outcome->error);
  }
  auto steps = p.control->steps_copy();
  REQUIRE_FALSE(steps.empty());
  for (auto& step : steps) CHECK(step.keys.size() == 1);
  CHECK(p.control->max_step_size() > 1);  // the test did batch something
}

TEST_CASE("past max_queue an order is refused at once with queue_full", "[gateway]") {
  gateway_settings s;
  s.max_batch_size = 1;
  s.max_queue = 2;
  s.step_time = 10ms;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  auto start = std::chrono::steady_clock::now();
  const int orders = 10;
  for (int i = 0; i < orders; ++i) p.submit(make_order("q" + std::to_string(i), {sample(i, 20)}));
  int refused = 0, served = 0;
  for (int i = 0; i < orders; ++i) {
    auto id = "q" + std::to_string(i);
    auto outcome = p.results.wait(id);
    REQUIRE(outcome);
    if (outcome->error) {
      CHECK(*outcome->error == failure::queue_full);
      // Refused at submit time, not after waiting: well before one sample (200 ms) is done.
      CHECK(std::chrono::steady_clock::now() - start < 2s);
      CHECK(outcome->total_ms < 150);
      ++refused;
    } else {
      ++served;
    }
  }
  CHECK(refused > 0);
  CHECK(served >= 2);
  auto stats = p.stats();
  CHECK(stats.orders.failed_count(failure::queue_full) == uint64_t(refused));
  CHECK(stats.orders.accepted == uint64_t(served));
  for (int i = 0; i < orders; ++i) CHECK(p.results.answers("q" + std::to_string(i)) == 1);
}

TEST_CASE("an order past its deadline is answered timeout once and its work stops", "[gateway]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  p.submit(make_order("late", {sample(1, 200)}, 100ms));
  auto outcome = p.results.wait("late", 2s);
  REQUIRE(outcome);
  REQUIRE(outcome->error);
  CHECK(*outcome->error == failure::timeout);
  CHECK(outcome->total_ms >= 95);
  CHECK(outcome->total_ms < 1000);
  REQUIRE(eventually([&] {
    auto w = p.worker_stats();
    return w.steps_saved > 0 && w.in_flight == 0;
  }));
  auto steps_after_cancel = p.control->steps_copy().size();
  std::this_thread::sleep_for(100ms);
  CHECK(p.control->steps_copy().size() == steps_after_cancel);  // nothing runs for it any more
  CHECK(p.results.answers("late") == 1);
  CHECK(p.stats().orders.failed_count(failure::timeout) == 1);
}

TEST_CASE("cancel answers cancelled and stops the work at the next step", "[gateway]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  std::atomic<int> progress{0};
  p.submit(make_order("c1", {sample(1, 400)}), [&](const order_progress& report) {
    CHECK(report.total == 400);
    CHECK(report.previews.empty());
    progress = report.step;
  });
  REQUIRE(eventually([&] { return progress >= 2; }));
  p.gw->cancel("c1");
  auto outcome = p.results.wait("c1", 2s);
  REQUIRE(outcome);
  REQUIRE(outcome->error);
  CHECK(*outcome->error == failure::cancelled);
  REQUIRE(eventually([&] { return p.worker_stats().steps_saved > 300; }));
  CHECK(p.control->steps_copy().size() < 100);
  CHECK(p.results.answers("c1") == 1);
}

TEST_CASE("samples that ask for previews send them with the order's progress",
          "[gateway][preview]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  auto first = sample(1, 6), second = sample(2, 6), plain = sample(3, 6);
  first.preview_every = 2;
  second.preview_every = 3;
  std::mutex mutex;
  std::vector<order_progress> reports;
  p.submit(make_order("p1", {first, second}), [&](const order_progress& report) {
    std::lock_guard<std::mutex> lock(mutex);
    reports.push_back(report);
  });
  std::atomic<int> plain_reports{0};
  p.submit(make_order("p2", {plain}), [&](const order_progress& report) {
    CHECK(report.previews.empty());
    ++plain_reports;
  });
  REQUIRE(p.results.wait("p1", 5s).has_value());
  REQUIRE(p.results.wait("p2", 5s).has_value());
  CHECK(plain_reports > 0);
  std::lock_guard<std::mutex> lock(mutex);
  // Each image's latest preview, a PNG, "" until its first (the first's come at steps 2 and 4,
  // the second's at 3; 6 is the last step: the image then).
  std::vector<std::vector<bool>> seen;
  for (const auto& report : reports) {
    if (report.previews.empty()) continue;
    REQUIRE(report.previews.size() == 2);
    std::vector<bool> has;
    for (const auto& png : report.previews) {
      if (!png.empty()) CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
      has.push_back(!png.empty());
    }
    seen.push_back(has);
  }
  REQUIRE_FALSE(seen.empty());
  CHECK(std::count(seen.front().begin(), seen.front().end(), true) >= 1);
  CHECK(seen.back() == std::vector<bool>{true, true});
}

TEST_CASE("a worker dying mid-batch loses nothing: its samples run on another worker",
          "[gateway]") {
  gateway_settings s;
  s.workers = 2;
  s.policy = "round_robin";
  s.max_wait_ms = 1;
  running_gateway p(s);
  REQUIRE(p.wait_ready(2));
  p.control->crashes_left = 1;  // the next model step anywhere throws: that worker dies
  std::vector<sample_request> requests;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(sample(100 + i, 6));
    p.submit(make_order("d" + std::to_string(i), {requests.back()}));
  }
  for (int i = 0; i < 4; ++i) {
    auto outcome = p.results.wait("d" + std::to_string(i));
    REQUIRE(outcome);
    REQUIRE_FALSE(outcome->error);
    CHECK(outcome->images[0].png == muse::model::encode_png(expected_image(requests[i])));
  }
  CHECK(p.control->crashes_left == 0);
  // The supervisor restarts the dead worker.
  REQUIRE(eventually([&] { return p.control->loads == 3 && p.gw->ready(); }));
  REQUIRE(eventually([&] { return p.ready_workers() == 2; }));
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < 4; ++i) CHECK(p.results.answers("d" + std::to_string(i)) == 1);
}

TEST_CASE("with step-level batching a sample joins the running batch", "[gateway]") {
  gateway_settings s;
  s.max_wait_ms = 1;
  s.step_level = true;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  std::atomic<int> progress{0};
  p.submit(make_order("first", {sample(1, 40)}),
           [&](const order_progress& report) { progress = report.step; });
  REQUIRE(eventually([&] { return progress >= 3; }));
  auto joining = sample(2, 40);  // same batch key: same size and scheduler
  p.submit(make_order("second", {joining}));
  auto second = p.results.wait("second");
  REQUIRE(second);
  REQUIRE_FALSE(second->error);
  CHECK(second->images[0].png == muse::model::encode_png(expected_image(joining)));
  CHECK(p.control->max_step_size() == 2);
  auto first = p.results.wait("first");
  REQUIRE(first);
  CHECK_FALSE(first->error);
}

TEST_CASE("Fast and Quality samples of one size and scheduler share model calls", "[gateway]") {
  gateway_settings s;
  s.max_batch_size = 2;
  s.max_wait_ms = 3000;  // only a full batch leaves in time: both must share one key
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  auto fast = sample(1, 5), quality = sample(2, 10);
  quality.guidance_scale = 1.0f;
  p.submit(make_order("fast", {fast}));
  p.submit(make_order("quality", {quality}));
  auto fast_outcome = p.results.wait("fast", 2s);
  auto quality_outcome = p.results.wait("quality", 2s);
  REQUIRE(fast_outcome);
  REQUIRE(quality_outcome);
  REQUIRE_FALSE(fast_outcome->error);
  REQUIRE_FALSE(quality_outcome->error);
  CHECK(fast_outcome->steps == 5);
  CHECK(quality_outcome->steps == 10);
  CHECK(fast_outcome->images[0].png == muse::model::encode_png(expected_image(fast)));
  CHECK(quality_outcome->images[0].png == muse::model::encode_png(expected_image(quality)));
  // Five calls with both, then five with the Quality sample alone.
  auto steps = p.control->steps_copy();
  REQUIRE(steps.size() == 10);
  for (size_t i = 0; i < steps.size(); ++i) CHECK(steps[i].size == (i < 5 ? 2u : 1u));
}

TEST_CASE("with step-level batching a Quality sample joins a running Fast batch", "[gateway]") {
  gateway_settings s;
  s.max_wait_ms = 1;
  s.step_level = true;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  std::atomic<int> progress{0};
  auto fast = sample(1, 40), quality = sample(2, 80);
  p.submit(make_order("fast", {fast}),
           [&](const order_progress& report) { progress = report.step; });
  REQUIRE(eventually([&] { return progress >= 3; }));
  p.submit(make_order("quality", {quality}));
  auto fast_outcome = p.results.wait("fast");
  auto quality_outcome = p.results.wait("quality");
  REQUIRE(fast_outcome);
  REQUIRE(quality_outcome);
  REQUIRE_FALSE(fast_outcome->error);
  REQUIRE_FALSE(quality_outcome->error);
  CHECK(quality_outcome->steps == 80);
  CHECK(quality_outcome->images[0].png == muse::model::encode_png(expected_image(quality)));
  CHECK(p.control->max_step_size() == 2);
}

TEST_CASE("step-level joining keeps other sizes and schedulers out of the running batch",
          "[gateway]") {
  gateway_settings s;
  s.max_wait_ms = 1;
  s.step_level = true;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  std::atomic<int> progress{0};
  p.submit(make_order("first", {sample(1, 40)}),
           [&](const order_progress& report) { progress = report.step; });
  REQUIRE(eventually([&] { return progress >= 3; }));
  auto other_scheduler = sample(3, 40);
  other_scheduler.scheduler = "euler";
  p.submit(make_order("other_size", {sample(2, 40, 32)}));
  p.submit(make_order("other_scheduler", {other_scheduler}));
  for (auto id : {"first", "other_size", "other_scheduler"}) {
    auto outcome = p.results.wait(id);
    REQUIRE(outcome);
    CHECK_FALSE(outcome->error);
  }
  CHECK(p.control->max_step_size() == 1);
}

TEST_CASE("without step-level batching a new sample waits for the running batch", "[gateway]") {
  gateway_settings s;
  s.max_wait_ms = 1;
  s.step_level = false;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  std::atomic<int> progress{0};
  p.submit(make_order("first", {sample(1, 20)}),
           [&](const order_progress& report) { progress = report.step; });
  REQUIRE(eventually([&] { return progress >= 3; }));
  p.submit(make_order("second", {sample(2, 5)}));
  REQUIRE(p.results.wait("second"));
  CHECK(p.results.answers("first") == 1);
  CHECK(p.control->max_step_size() == 1);
}

TEST_CASE("with no worker ready an order is refused at once with no_worker", "[gateway]") {
  gateway_settings s;
  s.fail_load = true;
  running_gateway p(s);
  REQUIRE(eventually([&] { return p.control->loads >= 1; }));
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(p.gw->ready());
  p.submit(make_order("nw", {sample(1)}));
  auto outcome = p.results.wait("nw", 1s);
  REQUIRE(outcome);
  REQUIRE(outcome->error);
  CHECK(*outcome->error == failure::no_worker);
  CHECK(p.stats().orders.failed_count(failure::no_worker) == 1);
}

TEST_CASE("a request the model refuses is answered invalid_request", "[gateway]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  p.submit(make_order("bad", {sample(1, 4, 16, "invalid")}));
  auto outcome = p.results.wait("bad");
  REQUIRE(outcome);
  REQUIRE(outcome->error);
  CHECK(*outcome->error == failure::invalid_request);
  CHECK(outcome->message.find("invalid") != std::string::npos);
}

TEST_CASE("shutdown answers what is in flight and refuses new orders", "[gateway]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  p.submit(make_order("quick", {sample(1, 2)}));
  p.submit(make_order("long", {sample(2, 2000)}));
  REQUIRE(p.results.wait("quick"));
  p.gw->shutdown(100ms);
  auto outcome = p.results.wait("long", 1s);
  REQUIRE(outcome);
  REQUIRE(outcome->error);
  CHECK(*outcome->error == failure::shutting_down);
  p.submit(make_order("after", {sample(3)}));
  auto after = p.results.wait("after", 1s);
  REQUIRE(after);
  REQUIRE(after->error);
  CHECK(*after->error == failure::shutting_down);
  CHECK(p.results.answers("long") == 1);
}

TEST_CASE("the stats snapshot has every documented figure", "[gateway][stats]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  p.submit(make_order("s1", {sample(1), sample(2)}));
  REQUIRE(p.results.wait("s1"));
  stats_snapshot stats;
  REQUIRE(eventually([&] {
    stats = p.stats();
    return stats.batches.images == 2;
  }));
  CHECK(stats.uptime_s > 0);
  CHECK(stats.ready);
  REQUIRE(stats.model);
  CHECK(stats.model->name == "muse-tiny");  // the config's name, the one requests use
  CHECK(stats.model->limits.max_size == 64);
  CHECK(stats.model->limits.schedulers == p.gw->limits().schedulers);
  REQUIRE(stats.queue);
  CHECK(stats.queue->depth == 0);
  CHECK(stats.queue->max == 100);
  CHECK(stats.queue->keys == 0);
  CHECK(stats.queue->arrivals_per_s > 0);
  CHECK(stats.queue->arrivals_total == 2);
  CHECK(stats.orders.accepted == 1);
  CHECK(stats.orders.completed == 1);
  for (auto f : all_failures) CHECK(stats.orders.failed_count(f) == 0);
  CHECK(stats.orders.open == 0);
  CHECK(stats.batches.done >= 1);
  CHECK(stats.batches.mean_size > 0);
  CHECK_FALSE(stats.batches.size_histogram.empty());
  CHECK(stats.latency_ms.total.count == 1);
  CHECK(stats.latency_ms.inference.p50 > 0);
  CHECK(stats.latency_ms.total.p99 >= stats.latency_ms.inference.p99);
  REQUIRE(stats.workers);
  CHECK(stats.workers->ready == 1);
  CHECK(stats.workers->total == 1);
  REQUIRE(stats.workers->list.size() == 1);
  auto& w = stats.workers->list[0];
  CHECK(w.id == "w1");
  CHECK(w.node == "test-node");
  CHECK(w.device == "cpu");
  CHECK(w.state == "ready");
  CHECK(w.in_flight == 0);
  CHECK(w.batches_done >= 1);
  CHECK(w.images_done == 2);
  CHECK(w.mean_batch_size >= 1);
  CHECK(w.steps_done == 8);
  CHECK(w.steps_saved == 0);
  CHECK(w.starts == 1);
  CHECK(w.busy_s > 0);  // 2 samples x 4 steps of 5 ms, in one batch or two
  CHECK(w.busy_s < stats.uptime_s);
}

TEST_CASE("every scaling decision reaches the stats with its inputs", "[gateway][stats]") {
  gateway_settings s;
  s.autoscale_interval_s = 1;
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  stats_snapshot stats;
  REQUIRE(eventually(
      [&] {
        stats = p.stats();
        return !stats.decisions.empty();
      },
      5s));
  const auto& record = stats.decisions.front();
  CHECK(record.decision.action == scaling_action::hold);  // idle at min_workers
  CHECK(record.decision.target == 1);
  CHECK_FALSE(record.decision.reason.empty());
  CHECK(record.policy == muse::config::autoscale_config{}.policy);
  CHECK(record.at_s >= 0.9);
  CHECK(record.inputs.workers == 1);
  CHECK(record.inputs.queue_depth == 0);
  CHECK(record.inputs.in_flight == 0);
}

namespace {

// Two slots, min_workers 1, decisions every second, 20 ms steps.
gateway_settings scaling_settings() {
  gateway_settings s;
  s.workers = 2;
  s.min_workers = 1;
  s.autoscale_interval_s = 1;
  s.step_time = 20ms;
  return s;
}

// Keeps work waiting and running until the supervisor has started the second worker, then waits
// for every answer.
void load_until_two_ready(running_gateway& p) {
  int orders = 0;
  REQUIRE(eventually(
      [&] {
        if (p.stats().orders.open < 8)
          p.submit(make_order("load" + std::to_string(orders++), {sample(1, 10), sample(2, 10)}));
        return p.ready_workers() == 2;
      },
      15s));
  for (int i = 0; i < orders; ++i) REQUIRE(p.results.wait("load" + std::to_string(i)));
}

// Waits until the stats list one worker, and gives the last snapshot.
stats_snapshot one_worker_listed(running_gateway& p) {
  stats_snapshot stats;
  CHECK(eventually(
      [&] {
        stats = p.stats();
        return stats.workers && stats.workers->list.size() == 1;
      },
      15s));
  return stats;
}

}  // namespace

TEST_CASE("a worker drained by scale-down leaves the stats' list and count",
          "[gateway][stats][scaling]") {
  running_gateway p(scaling_settings());
  REQUIRE(p.wait_ready(1));
  load_until_two_ready(p);
  // Idle: after scale_down_after (2) low intervals the newest worker is drained and stops. The
  // decision reaches the stats on its own message: wait for it too.
  auto stats = one_worker_listed(p);
  auto scaled_down = [](const stats_snapshot& s) {
    return std::any_of(s.decisions.begin(), s.decisions.end(),
                       [](auto& d) { return d.decision.action == scaling_action::down; });
  };
  CHECK(eventually([&] { return scaled_down(stats = p.stats()); }, 5s));
  REQUIRE(stats.workers);
  CHECK(stats.workers->total == 1);
  CHECK(stats.workers->ready == 1);
  REQUIRE(stats.workers->list.size() == 1);
  CHECK(stats.workers->list[0].id == "w1");
  CHECK(stats.workers->list[0].state == "ready");
  // The one left still serves.
  p.submit(make_order("after", {sample(3)}));
  auto after = p.results.wait("after");
  REQUIRE(after);
  CHECK_FALSE(after->error);
}

TEST_CASE("a worker that died and is no longer wanted leaves the stats' list",
          "[gateway][stats][scaling]") {
  running_gateway p(scaling_settings());
  REQUIRE(p.wait_ready(1));
  load_until_two_ready(p);
  // One of the two dies (its sample runs on the other) and no replacement can load.
  p.control->fail_load = true;
  p.control->crashes_left = 1;
  p.submit(make_order("crash", {sample(4)}));
  auto crashed = p.results.wait("crash");
  REQUIRE(crashed);
  CHECK_FALSE(crashed->error);
  // Idle: the target drops to min_workers (1), which the survivor meets; the dead one is not
  // replaced, so it leaves the list rather than stay there as dead.
  auto stats = one_worker_listed(p);
  REQUIRE(stats.workers);
  CHECK(stats.workers->total == 1);
  REQUIRE(stats.workers->list.size() == 1);
  CHECK(stats.workers->list[0].state == "ready");
}

TEST_CASE("every stats request is answered exactly once, shutdown or not", "[gateway][stats]") {
  running_gateway p;
  REQUIRE(p.wait_ready());
  std::atomic<int> answers{0}, snapshots{0};
  auto count = [&](stats_reply reply) {
    ++answers;
    if (reply.snapshot) ++snapshots;
  };
  for (int i = 0; i < 20; ++i) p.gw->stats(count);
  p.gw->shutdown(0ms);  // returns once the actor system is gone: nothing is left to answer later
  CHECK(answers == 20);
  CHECK(snapshots <= 20);
  stats_reply after;
  p.gw->stats([&](stats_reply reply) { after = std::move(reply); });
  CHECK_FALSE(after.snapshot);
  CHECK(after.error == "the gateway has shut down");
}
