#include "actors/scaling_policy.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <utility>
#include <vector>

#include "actors/capacity_meter.hpp"

using muse::actors::capacity_meter;
using muse::actors::scaling_action;
using muse::actors::scaling_inputs;
using muse::actors::scaling_policy;
using muse::actors::worker_figures;
using muse::actors::worker_pool_figures;

namespace {

muse::config::autoscale_config settings(const std::string& policy = "capacity") {
  muse::config::autoscale_config s;
  s.interval_s = 10;
  s.min_workers = 1;
  s.max_workers = 6;
  s.target_utilisation = 0.5;
  s.scale_down_after = 3;
  s.policy = policy;
  return s;
}

scaling_inputs load(double arrivals, uint64_t queue, int workers, double per_worker) {
  scaling_inputs in;
  in.arrivals_per_s = arrivals;
  in.queue_depth = queue;
  in.workers = workers;
  in.images_per_s_per_worker = per_worker;
  return in;
}

scaling_inputs running(uint64_t in_flight, int workers, double per_worker) {
  auto in = load(0, 0, workers, per_worker);
  in.in_flight = in_flight;
  return in;
}

// A worker's counters: busy seconds, steps run, images done and their step counts added up.
worker_figures counted(std::string id, double busy_s, uint64_t steps, uint64_t images,
                       uint64_t image_steps) {
  worker_figures w;
  w.id = std::move(id);
  w.state = "ready";
  w.busy_s = busy_s;
  w.steps_done = steps;
  w.images_done = images;
  w.image_steps = image_steps;
  return w;
}

worker_pool_figures pool(std::vector<worker_figures> list) {
  worker_pool_figures p;
  p.list = std::move(list);
  return p;
}

}  // namespace

TEST_CASE("capacity: grows to the workers the arrival rate needs at once", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  // 3 images/s, one worker serves 2/s at 50% = 1/s -> 3 workers.
  auto d = policy.decide(load(3, 0, 1, 2));
  CHECK(d.action == scaling_action::up);
  CHECK(d.target == 3);
  CHECK(d.reason.find("demand 3") != std::string::npos);
}

TEST_CASE("capacity: the queue counts as demand to clear within one interval", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  // no arrivals, 40 waiting over 10 s = 4/s -> 4 workers.
  CHECK(policy.decide(load(0, 40, 1, 2)).target == 4);
}

TEST_CASE("never beyond max_workers nor the slots of the nodes", "[scaling]") {
  scaling_policy by_max(settings(), 4, 100);
  CHECK(by_max.decide(load(1000, 0, 1, 1)).target == 6);
  scaling_policy by_slots(settings(), 4, 2);
  CHECK(by_slots.decide(load(1000, 0, 1, 1)).target == 2);
  CHECK(by_slots.upper_bound() == 2);
}

TEST_CASE("shrinks only after scale_down_after low intervals, one worker at a time", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  auto idle = load(0, 0, 4, 2);
  CHECK(policy.decide(idle).action == scaling_action::hold);
  CHECK(policy.decide(idle).action == scaling_action::hold);
  auto third = policy.decide(idle);
  CHECK(third.action == scaling_action::down);
  CHECK(third.target == 3);
  // The count starts afresh after a step down.
  CHECK(policy.decide(load(0, 0, 3, 2)).action == scaling_action::hold);
}

TEST_CASE("a busy interval in between resets the low count (no flapping)", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  auto idle = load(0, 0, 3, 2);
  auto busy = load(3, 0, 3, 2);  // exactly 3 workers' worth
  for (int round = 0; round < 5; ++round) {
    CHECK(policy.decide(idle).action == scaling_action::hold);
    CHECK(policy.decide(idle).action == scaling_action::hold);
    CHECK(policy.decide(busy).action == scaling_action::hold);
  }
}

TEST_CASE("never below min_workers, and back up to it at once", "[scaling]") {
  auto s = settings();
  s.min_workers = 2;
  s.scale_down_after = 1;
  scaling_policy policy(s, 4, 8);
  CHECK(policy.decide(load(0, 0, 2, 2)).action == scaling_action::hold);
  auto d = policy.decide(load(0, 0, 0, 2));
  CHECK(d.action == scaling_action::up);
  CHECK(d.target == 2);
}

TEST_CASE("capacity without a measured throughput uses the queue rule", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  CHECK(policy.decide(load(0, 5, 1, 0)).target == 2);
  CHECK(policy.decide(load(0, 4, 1, 0)).action == scaling_action::hold);
}

TEST_CASE("queue_threshold: up when more wait than workers x max_batch_size", "[scaling]") {
  auto s = settings("queue_threshold");
  s.scale_down_after = 2;
  scaling_policy policy(s, 4, 8);
  CHECK(policy.decide(load(100, 8, 2, 50)).action ==
        scaling_action::hold);  // rate is not its input
  auto up = policy.decide(load(0, 9, 2, 50));
  CHECK(up.action == scaling_action::up);
  CHECK(up.target == 3);
  // Down once what waits and runs would fit one worker fewer, after two low intervals.
  auto quiet = load(0, 1, 3, 50);
  CHECK(policy.decide(quiet).action == scaling_action::hold);
  CHECK(policy.decide(quiet).target == 2);
}

TEST_CASE("a decision names its action and says why", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  auto decision = policy.decide(load(3, 7, 1, 2));
  CHECK(std::string(to_string(decision.action)) == "up");
  CHECK(decision.reason.size() > 10);
}

TEST_CASE("capacity: samples running count as demand when nothing new arrived", "[scaling]") {
  // A closed loop: 8 clients whose requests outlast the interval, so no arrival in it, 8 samples
  // on the workers. They are served within one interval (10 s): 0.8 images/s; one worker serves
  // 0.4/s at 50% = 0.2/s -> 4 workers.
  scaling_policy policy(settings(), 4, 8);
  auto up = policy.decide(running(8, 2, 0.4));
  CHECK(up.action == scaling_action::up);
  CHECK(up.target == 4);
  CHECK(up.reason.find("8 running") != std::string::npos);
  CHECK(up.reason.find("demand 0.8") != std::string::npos);
  // The same load at 4 workers holds them, however many intervals it lasts.
  for (int round = 0; round < 6; ++round)
    CHECK(policy.decide(running(8, 4, 0.4)).action == scaling_action::hold);
}

TEST_CASE("capacity: waiting and running samples add up with the arrivals", "[scaling]") {
  scaling_policy policy(settings(), 4, 8);
  // 1/s arrivals + (6 waiting + 4 running) / 10 s = 2/s; 1/s per worker at 50% -> 4 workers.
  auto in = load(1, 6, 1, 1);
  in.in_flight = 4;
  CHECK(policy.decide(in).target == 4);
}

TEST_CASE("capacity meter: images per busy second, from the change since the last update",
          "[scaling][capacity]") {
  capacity_meter meter;
  CHECK(meter.update(pool({})) == 0);  // nothing measured yet
  CHECK(meter.update(pool({counted("w1", 0, 0, 0, 0)})) == 0);
  // 500 steps in 10 busy seconds, 10 steps an image: 5 images per busy second (however long the
  // worker idled in between: busy seconds, not wall time).
  CHECK(meter.update(pool({counted("w1", 10, 500, 50, 500)})) == Approx(5));
  CHECK(meter.last_measured() == Approx(5));
  // Then 2000 steps in 10 more busy seconds: the interval's 20/s, not the lifetime's 12.5/s.
  CHECK(meter.update(pool({counted("w1", 20, 2500, 250, 2500)})) == Approx(20));
  // An interval in which no worker was busy falls back to the lifetime totals.
  CHECK(meter.update(pool({counted("w1", 20, 2500, 250, 2500)})) == Approx(12.5));
}

TEST_CASE("capacity meter: images finishing in bursts do not swing the figure",
          "[scaling][capacity]") {
  // 100 steps per busy second, 25 steps an image: 4 images/s, whether 16 or 24 images (two or
  // three batches of 8) happened to end in an interval.
  capacity_meter meter;
  CHECK(meter.update(pool({counted("w1", 5, 500, 16, 400)})) == Approx(4));
  CHECK(meter.update(pool({counted("w1", 10, 1000, 40, 1000)})) == Approx(4));
  CHECK(meter.update(pool({counted("w1", 15, 1500, 56, 1400)})) == Approx(4));
}

TEST_CASE("capacity meter: a long batch that finished no image in the interval still counts",
          "[scaling][capacity]") {
  capacity_meter meter;
  CHECK(meter.update(pool({counted("w1", 10, 500, 10, 500)})) == Approx(1));  // 50 steps an image
  // 10 more busy seconds, 400 steps, no image finished: 40 steps/s over the last measured 50
  // steps an image.
  CHECK(meter.update(pool({counted("w1", 20, 900, 10, 500)})) == Approx(0.8));
  // Every worker new (drained and replaced): the last figure stands until they have run.
  CHECK(meter.update(pool({counted("w2", 0, 0, 0, 0)})) == Approx(0.8));
}

TEST_CASE("capacity meter: a mix of step counts weighs as it was served", "[scaling][capacity]") {
  // 150 steps per busy second; as many Fast (25 steps) as Quality (50) images: 37.5 steps an
  // image, 4 images per busy second.
  capacity_meter meter;
  CHECK(meter.update(pool({counted("w1", 10, 1500, 40, 1500)})) == Approx(4));
}

TEST_CASE("capacity meter: workers pool their counters; a restarted one counts from zero",
          "[scaling][capacity]") {
  capacity_meter meter;
  meter.update(pool({counted("w1", 10, 100, 10, 100), counted("w2", 10, 100, 10, 100)}));
  // w1 ran 10 s more at 100 steps/s; w2 restarted and ran 5 s at 100 steps/s since (its counters
  // went down): 1500 steps in 15 busy seconds, 10 steps an image.
  auto figure =
      meter.update(pool({counted("w1", 20, 1100, 110, 1100), counted("w2", 5, 500, 50, 500)}));
  CHECK(figure == Approx(10));
}

TEST_CASE("capacity from busy seconds gives the worker count the load needs",
          "[scaling][capacity]") {
  // A GPU worker with step-level joining: batches of 8, 25 steps an image, 17.5 steps a second =
  // 140 sample steps per busy second = 5.6 images per busy second. A sample's own inference takes
  // 25 / 17.5 = 1.4 s, so a flush size (~1: samples join the running batch one by one) over that
  // latency would read 0.7/s, eight times too low.
  capacity_meter meter;
  double per_worker = meter.update(pool({counted("w1", 100, 14000, 560, 14000)}));
  CHECK(per_worker == Approx(5.6));
  // 8 images/s arriving against 80% of 5.6/s = 4.48/s: 2 workers, not the 12 of 0.7/s.
  auto s = settings();
  s.target_utilisation = 0.8;
  s.max_workers = 20;
  scaling_policy policy(s, 8, 20);
  auto decision = policy.decide(load(8, 0, 1, per_worker));
  CHECK(decision.target == 2);
  CHECK(decision.reason.find("per busy second") != std::string::npos);
}

namespace {

// full_batch: a decision every 5 s, down after 2 intervals of 30 s (12 ticks) of lower need, the
// backlog served within 10 s.
muse::config::autoscale_config full_batch_settings() {
  muse::config::autoscale_config s;
  s.policy = "full_batch";
  s.interval_s = 30;
  s.scale_up_check_s = 5;
  s.scale_down_after = 2;
  s.backlog_s = 10;
  s.min_workers = 1;
  s.max_workers = 1000;
  return s;
}

// `arrivals` images/s, `queue` waiting, against workers that serve `full` images/s in full
// batches and `mean` at the last interval's mean batch.
scaling_inputs full_load(double arrivals, uint64_t queue, int workers, double full,
                         double mean = 1) {
  auto in = load(arrivals, queue, workers, mean);
  in.full_batch_images_per_s = full;
  return in;
}

}  // namespace

TEST_CASE("full_batch: a constant load gives ceil(load + sqrt(load)) workers", "[scaling]") {
  // load = arrivals / images per second in full batches.
  for (auto [arrivals, expected] :
       std::vector<std::pair<double, int>>{{10, 2}, {40, 6}, {100, 14}, {1000, 110}, {6675, 694}}) {
    CAPTURE(arrivals);
    scaling_policy policy(full_batch_settings(), 8, 1000);
    const double load = arrivals / 10;
    CHECK(expected == static_cast<int>(std::ceil(load + std::sqrt(load) - 1e-9)));
    auto d = policy.decide(full_load(arrivals, 0, 1, 10));
    CHECK(d.target == expected);
    CHECK(d.action == scaling_action::up);
    // The same load again: it holds there.
    CHECK(policy.decide(full_load(arrivals, 0, expected, 10)).action == scaling_action::hold);
  }
}

TEST_CASE("full_batch: capacity in full batches, not at the last interval's mean batch",
          "[scaling]") {
  scaling_policy policy(full_batch_settings(), 8, 1000);
  // 100 images/s; 10/s in full batches (load 10 -> 14), though the light batches read 4/s.
  auto d = policy.decide(full_load(100, 0, 1, 10, 4));
  CHECK(d.target == 14);
  CHECK(d.reason.find("in full batches") != std::string::npos);
  // Until full batches are known, the images per busy second measured stand in.
  scaling_policy unknown(full_batch_settings(), 8, 1000);
  auto fallback = unknown.decide(full_load(100, 0, 1, 0, 10));
  CHECK(fallback.target == 14);
  CHECK(fallback.reason.find("per busy second") != std::string::npos);
  // Nothing measured at all: the queue rule.
  scaling_policy none(full_batch_settings(), 8, 1000);
  CHECK(none.decide(full_load(100, 9, 1, 0, 0)).target == 2);
}

TEST_CASE("full_batch: the backlog is served within backlog_s", "[scaling]") {
  scaling_policy policy(full_batch_settings(), 8, 1000);
  // No arrivals, 400 waiting: 40/s over 10 s; 10/s a worker: load 4 -> ceil(4 + 2) = 6.
  CHECK(policy.decide(full_load(0, 400, 1, 10)).target == 6);
  // With 20/s arriving too: 60/s, load 6 -> ceil(6 + 2.449) = 9.
  CHECK(policy.decide(full_load(20, 400, 6, 10)).target == 9);
  auto s = full_batch_settings();
  s.backlog_s = 40;
  scaling_policy slower(s, 8, 1000);
  // 400 over 40 s: 10/s, load 1 -> 2.
  CHECK(slower.decide(full_load(0, 400, 1, 10)).target == 2);
}

TEST_CASE("full_batch: samples running keep their workers when nothing arrives", "[scaling]") {
  scaling_policy policy(full_batch_settings(), 8, 1000);
  // A closed loop: 20 samples on the workers, no arrivals in the window: 3 batches of 8.
  auto in = full_load(0, 0, 1, 10);
  in.in_flight = 20;
  auto d = policy.decide(in);
  CHECK(d.target == 3);
  CHECK(d.reason.find("20 running") != std::string::npos);
}

TEST_CASE("full_batch: a drop goes down after scale_down_after intervals to their highest need",
          "[scaling]") {
  scaling_policy policy(full_batch_settings(), 8, 1000);
  REQUIRE(policy.tick_s() == 5);
  // 110 workers for 1000/s; the load drops to 100/s (14 workers) and, one tick, 160/s (20).
  CHECK(policy.decide(full_load(1000, 0, 110, 10)).action == scaling_action::hold);
  for (int tick = 1; tick < 12; ++tick) {
    CAPTURE(tick);
    auto d = policy.decide(full_load(tick == 6 ? 160 : 100, 0, 110, 10));
    CHECK(d.action == scaling_action::hold);
    CHECK(d.target == 110);
  }
  // The 12th tick of lower need (60 s = 2 intervals of 30 s): at once to the highest need seen.
  auto down = policy.decide(full_load(100, 0, 110, 10));
  CHECK(down.action == scaling_action::down);
  CHECK(down.target == 20);
  CHECK(down.reason.find("low for 60 s") != std::string::npos);
  // A tick that needs all the workers there are resets the count.
  for (int tick = 0; tick < 11; ++tick)
    CHECK(policy.decide(full_load(10, 0, 20, 10)).action == scaling_action::hold);
  CHECK(policy.decide(full_load(160, 0, 20, 10)).action == scaling_action::hold);
  for (int tick = 0; tick < 11; ++tick)
    CHECK(policy.decide(full_load(10, 0, 20, 10)).action == scaling_action::hold);
  CHECK(policy.decide(full_load(10, 0, 20, 10)).target == 2);
}

TEST_CASE("full_batch: up at once on the faster tick, bounded as the others", "[scaling]") {
  auto s = full_batch_settings();
  s.max_workers = 50;
  scaling_policy policy(s, 8, 40);
  CHECK(policy.decide(full_load(1000, 0, 14, 10)).target == 40);
  // The check is never slower than interval_s; the other policies tick every interval_s.
  s.scale_up_check_s = 60;
  CHECK(scaling_policy(s, 8, 40).tick_s() == 30);
  s.policy = "capacity";
  s.scale_up_check_s = 5;
  CHECK(scaling_policy(s, 8, 40).tick_s() == 30);
}

namespace {

// A worker that ran `calls` model calls of each size (index: samples - 1) taking `seconds`.
worker_figures with_calls(std::string id, std::vector<uint64_t> calls, std::vector<double> seconds,
                          uint64_t images, uint64_t image_steps) {
  auto w = counted(std::move(id), 0, 0, images, image_steps);
  for (size_t i = 0; i < calls.size(); ++i) {
    w.busy_s += seconds[i];
    w.steps_done += calls[i] * (i + 1);
  }
  w.calls_by_rows = std::move(calls);
  w.busy_s_by_rows = std::move(seconds);
  return w;
}

}  // namespace

TEST_CASE("full call seconds: measured when full calls ran, else the line through smaller ones",
          "[scaling][capacity]") {
  using muse::actors::full_call_seconds;
  CHECK(full_call_seconds({}, {}) == 0);
  // 4 full calls of 4 in 2 s: 0.5 s each, whatever the smaller ones took.
  CHECK(full_call_seconds({10, 0, 0, 4}, {1, 0, 0, 2}) == Approx(0.5));
  // No full call: 0.2 s at 1, 0.5 s at 4 (0.1 s + 0.1 s a sample) -> 0.9 s at 8.
  CHECK(full_call_seconds({5, 0, 0, 2, 0, 0, 0, 0}, {1, 0, 0, 1, 0, 0, 0, 0}) == Approx(0.9));
  // Calls weigh as many as they were: 3 at 2 samples (0.3 s each) with the above.
  CHECK(full_call_seconds({5, 3, 0, 2, 0, 0, 0, 0}, {1, 0.9, 0, 1, 0, 0, 0, 0}) == Approx(0.9));
  // One size only: nothing to draw a line through.
  CHECK(full_call_seconds({5, 0, 0, 0}, {1, 0, 0, 0}) == 0);
  // A line that falls (noise) never reads below the largest size's mean.
  CHECK(full_call_seconds({1, 1, 0, 0}, {0.5, 0.3, 0, 0}) == Approx(0.3));
}

TEST_CASE("capacity meter: images per busy second in full batches, from calls by size",
          "[scaling][capacity]") {
  capacity_meter meter;
  CHECK(meter.full_batch_measured() == 0);
  // Two workers, max_batch_size 8, 25 steps an image. Only light batches so far: 1 sample a call
  // at 0.2 s, 4 at 0.5 s (pooled over the workers): a call of 8 would take 0.9 s, so 8 / 0.9
  // steps of 8 samples a second = 8 / 0.9 / 25 images per busy second.
  meter.update(
      pool({with_calls("w1", {50, 0, 0, 0, 0, 0, 0, 0}, {10, 0, 0, 0, 0, 0, 0, 0}, 2, 50),
            with_calls("w2", {0, 0, 0, 25, 0, 0, 0, 0}, {0, 0, 0, 12.5, 0, 0, 0, 0}, 4, 100)}));
  CHECK(meter.full_batch_measured() == Approx(8 / 0.9 / 25));
  // The images per busy second at those batches read lower: what the load gave.
  CHECK(meter.last_measured() < meter.full_batch_measured());
  // Full calls measured since (25 calls of 8 in 20 s): 0.8 s a call, measured beats the line.
  meter.update(
      pool({with_calls("w1", {50, 0, 0, 0, 0, 0, 0, 0}, {10, 0, 0, 0, 0, 0, 0, 0}, 2, 50),
            with_calls("w2", {0, 0, 0, 25, 0, 0, 0, 25}, {0, 0, 0, 12.5, 0, 0, 0, 20}, 12, 300)}));
  CHECK(meter.full_batch_measured() == Approx(8 / 0.8 / 25));
  // measured_load passes it on to the policy.
  muse::actors::stats_snapshot stats;
  stats.workers =
      pool({with_calls("w1", {0, 0, 0, 0, 0, 0, 0, 10}, {0, 0, 0, 0, 0, 0, 0, 10}, 8, 200)});
  capacity_meter fresh;
  auto in = muse::actors::measured_load(stats, fresh);
  CHECK(in.full_batch_images_per_s == Approx(8.0 / 1 / 25));
}
