#include "tools/sim/simulator.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "tools/sim/model.hpp"
#include "tools/sim/scalers.hpp"

using namespace muse::sim;

namespace {

sim_settings quiet(const std::string& policy, int gpus) {
  sim_settings s;
  s.policy = policy;
  s.gpus = gpus;
  s.failures_per_hour = 0;
  return s;
}

const tick_record& tick_at(const sim_result& r, double at_s) {
  auto it = std::find_if(r.ticks.begin(), r.ticks.end(),
                         [&](const tick_record& t) { return t.at_s >= at_s - 1e-6; });
  REQUIRE(it != r.ticks.end());
  return *it;
}

}  // namespace

TEST_CASE("the service model is the H200 figures, linear between them", "[sim]") {
  auto h200 = service_model::h200_sd15_fast();
  // docs/benchmarks.md, muse 25 steps on the H200: 5.48 / 8.29 / 8.90 / 9.07 images/s.
  CHECK(h200.seconds(1) == Approx(1 / 5.48));
  CHECK(h200.seconds(8) == Approx(8 / 8.90));
  CHECK(h200.seconds(6) == Approx((4 / 8.29 + 8 / 8.90) / 2));
  CHECK(h200.images_per_s(16) == Approx(9.07));
  CHECK(h200.images_per_s(1) < h200.images_per_s(4));
  CHECK_THROWS(service_model({{4, 1.0}, {2, 0.5}}));
}

TEST_CASE("the traces have the shapes the docs give", "[sim]") {
  auto day = trace::make("diurnal", 1000, 86400);
  CHECK(day.rate(0) == Approx(100));
  CHECK(day.rate(43200) == Approx(1000));
  auto flash = trace::make("flash", 1000);
  CHECK(flash.rate(1799) == Approx(100));
  CHECK(flash.rate(1860) == Approx(1000));  // 10x within one minute
  CHECK(flash.rate(1830) == Approx(550));
  auto steps = trace::make("steps", 1000);
  CHECK(steps.rate(1199) == Approx(100));
  CHECK(steps.rate(1200) == Approx(400));
  CHECK_THROWS(trace::make("sawtooth", 1));
}

TEST_CASE("a worker's capacity is what it finished per busy second", "[sim]") {
  interval_figures f;
  f.arrivals_in_window = 500;
  f.window_s = 10;
  f.queue_depth = 7;
  f.in_flight = 16;
  f.workers = 3;
  f.images_done = 240;
  f.busy_s = 30;
  auto in = scaling_inputs_from(f, 0);
  CHECK(in.arrivals_per_s == Approx(50));
  CHECK(in.queue_depth == 7);
  CHECK(in.in_flight == 16);
  CHECK(in.workers == 3);
  CHECK(in.images_per_s_per_worker == Approx(8));
  f.images_done = 0;
  f.busy_s = 0;
  CHECK(scaling_inputs_from(f, 6.5).images_per_s_per_worker == Approx(6.5));
  // In full batches: from the batches by size, as the capacity meter reads the workers' calls.
  CHECK(scaling_inputs_from(f, 0).full_batch_images_per_s == 0);  // none counted yet
  f.calls_by_rows = {10, 0, 0, 0, 0, 0, 0, 4};
  f.busy_s_by_rows = {2, 0, 0, 0, 0, 0, 0, 4};
  CHECK(scaling_inputs_from(f, 0).full_batch_images_per_s == Approx(8));  // 8 in 1 s
  f.calls_by_rows = {10, 0, 0, 5, 0, 0, 0, 0};
  f.busy_s_by_rows = {2, 0, 0, 2.5, 0, 0, 0, 0};
  // 0.2 s at 1, 0.5 s at 4: 0.9 s at 8, extrapolated.
  CHECK(scaling_inputs_from(f, 0).full_batch_images_per_s == Approx(8 / 0.9));
}

TEST_CASE("a constant load gives the expected worker count", "[sim]") {
  const double rate = 200;
  auto load = trace::make("constant", rate, 3600);

  SECTION("the oracle holds exactly its staffing rule") {
    auto r = simulate(load, quiet("oracle", 100));
    const double a = rate / service_model::h200_sd15_fast().images_per_s(8);
    const int expected = static_cast<int>(std::ceil(a));  // oracle_beta 0: the fewest that keep up
    CHECK(oracle_workers(rate, quiet("oracle", 100)) == expected);
    for (auto& t : r.ticks) CHECK(t.ready == expected);
    CHECK(r.slo_share() == 1.0);
    CHECK(r.gpu_hours == Approx(expected * 1.0).epsilon(1e-6));
  }

  SECTION("the capacity policy settles where its rule puts it, and serves every request") {
    auto settings = quiet("capacity", 100);
    auto r = simulate(load, settings);
    const auto& last = r.ticks.back();
    // What scaling_policy's capacity rule asks for from the measured figures: that at once when
    // it is more than the workers, else the workers or one fewer (scale-down waits).
    const double per_worker =
        last.inputs.images_per_s_per_worker * settings.autoscale.target_utilisation;
    const double demand =
        last.inputs.arrivals_per_s +
        double(last.inputs.queue_depth + last.inputs.in_flight) / settings.autoscale.interval_s;
    const int rule = static_cast<int>(std::ceil(demand / per_worker - 1e-9));
    if (rule >= last.inputs.workers)
      CHECK(last.target == rule);
    else
      CHECK((last.target == last.inputs.workers || last.target == last.inputs.workers - 1));
    // Measured capacity lies between a worker's rate at batch 1 and at full batches.
    CHECK(last.inputs.images_per_s_per_worker >= 5.48 * 0.99);
    CHECK(last.inputs.images_per_s_per_worker <= 8.90 * 1.01);
    // Settled: over the last half hour the targets move by at most three workers (the arrival
    // rate over a 10 s window varies by ~2% at 200/s).
    int lowest = 1000, highest = 0;
    for (auto& t : r.ticks)
      if (t.at_s >= 1800) {
        lowest = std::min(lowest, t.target);
        highest = std::max(highest, t.target);
      }
    CHECK(highest - lowest <= 3);
    CHECK(lowest >= static_cast<int>(std::ceil(rate / (8.90 * 0.8))));
    CHECK(r.slo_share() == 1.0);
    CHECK(r.timed_out == 0);
  }

  SECTION("full_batch settles at ceil(load + sqrt(load)) of full batches, and serves every one") {
    auto settings = quiet("full_batch", 100);
    auto r = simulate(load, settings);
    // 200/s over 8.90/s in full batches: load 22.5, + sqrt 4.7 -> 28 workers.
    const double a = rate / 8.90;
    const int expected = static_cast<int>(std::ceil(a + std::sqrt(a)));
    REQUIRE(expected == 28);
    const auto& last = r.ticks.back();
    // Measured from the batches the workers ran (full or extrapolated), the service model's.
    CHECK(last.inputs.full_batch_images_per_s == Approx(8.90).epsilon(0.01));
    // Over the last half hour: within a worker or two of the rule (the 10 s arrival rate moves
    // by ~2%), never fewer than the load needs.
    int lowest = 1000, highest = 0;
    for (auto& t : r.ticks)
      if (t.at_s >= 1800) {
        lowest = std::min(lowest, t.target);
        highest = std::max(highest, t.target);
      }
    CHECK(lowest >= expected - 1);
    CHECK(highest <= expected + 2);
    CHECK(lowest >= static_cast<int>(std::ceil(a)));
    CHECK(r.slo_share() == 1.0);
    CHECK(r.timed_out == 0);
    // It decides every scale_up_check_s.
    REQUIRE(r.ticks.size() > 2);
    CHECK(r.ticks[1].at_s - r.ticks[0].at_s == Approx(settings.autoscale.scale_up_check_s));
  }
}

TEST_CASE("full_batch follows a step within the rate window and one check", "[sim]") {
  const int gpus = 100;
  auto settings = quiet("full_batch", gpus);
  const double peak = 0.75 * gpus * settings.service.images_per_s(settings.max_batch_size);
  auto load = trace::make("steps", peak);
  auto r = simulate(load, settings);
  const double after = 0.4 * peak;
  const double a = after / settings.service.images_per_s(8);
  const int needed = static_cast<int>(std::ceil(a));
  const double step_at = 1200;
  // The 10 s arrival window has seen only the new rate by then; the next check asks for it.
  const auto& first = tick_at(r, step_at + settings.rate_window_s);
  CHECK(first.at_s <= step_at + settings.rate_window_s + settings.autoscale.scale_up_check_s);
  CHECK(first.target >= static_cast<int>(std::ceil(a + std::sqrt(a) - 1)));
  const auto& next = tick_at(r, first.at_s + settings.startup_s);
  CHECK(next.ready >= needed);
  CHECK(r.slo_share() > 0.999);
}

TEST_CASE("a step in load is followed within one interval plus the start-up", "[sim]") {
  // steps: 0.1 of peak until 1200 s, then 0.4 of it.
  const int gpus = 100;
  auto settings = quiet("capacity", gpus);
  const double peak = 0.75 * gpus * settings.service.images_per_s(settings.max_batch_size);
  auto load = trace::make("steps", peak);
  auto r = simulate(load, settings);
  const double after = 0.4 * peak;
  // Enough workers to serve the new rate in full batches: fewer could never keep up.
  const int needed = static_cast<int>(std::ceil(after / settings.service.images_per_s(8)));
  const double step_at = 1200;
  const auto& first = tick_at(r, step_at + settings.rate_window_s);
  CHECK(first.at_s <= step_at + settings.autoscale.interval_s);
  CHECK(first.target >= needed);
  const auto& next = tick_at(r, first.at_s + settings.startup_s);
  CHECK(next.ready >= needed);
  CHECK(r.slo_share() > 0.99);
}

TEST_CASE("the same seed gives the same result, another seed another", "[sim]") {
  auto load = trace::make("flash", 300);
  auto settings = quiet("capacity", 60);
  settings.failures_per_hour = 2;
  auto a = simulate(load, settings);
  auto b = simulate(load, settings);
  CHECK(a.requests == b.requests);
  CHECK(a.within_slo == b.within_slo);
  CHECK(a.timed_out == b.timed_out);
  CHECK(a.p99_s == b.p99_s);
  CHECK(a.gpu_hours == b.gpu_hours);
  CHECK(a.failures == b.failures);
  REQUIRE(a.ticks.size() == b.ticks.size());
  for (size_t i = 0; i < a.ticks.size(); ++i) {
    CHECK(a.ticks[i].target == b.ticks[i].target);
    CHECK(a.ticks[i].inputs.queue_depth == b.ticks[i].inputs.queue_depth);
  }
  settings.seed = 2;
  auto c = simulate(load, settings);
  CHECK(c.requests != a.requests);
}

TEST_CASE("an overloaded pool drops what waits past the timeout and loses nothing else", "[sim]") {
  auto load = trace::make("constant", 40, 600);
  auto settings = quiet("capacity", 2);
  auto r = simulate(load, settings);
  CHECK(r.timed_out > 0);
  CHECK(r.within_slo < r.requests);
  CHECK(r.p99_s >= settings.timeout_s);
  CHECK(r.most_workers == 2);
  // Two workers in full batches serve at most 2 x 8.90 images/s; the rest timed out.
  CHECK(r.requests - r.timed_out <= static_cast<uint64_t>(2 * 8.90 * (600 + 120 + 2)));
}

TEST_CASE("a lost node's workers are replaced and its batches served elsewhere", "[sim]") {
  auto load = trace::make("constant", 400, 7200);
  auto settings = quiet("oracle", 160);
  settings.failures_per_hour = 3;
  auto r = simulate(load, settings);
  CHECK(r.failures > 0);
  CHECK(r.timed_out == 0);
  CHECK(r.slo_share() > 0.999);
  // The supervisor replaces lost workers at once: every tick finds the previous target running.
  for (size_t i = 1; i < r.ticks.size(); ++i)
    CHECK(r.ticks[i].inputs.workers == r.ticks[i - 1].target);
}

TEST_CASE("unknown policies and bad pools are refused", "[sim]") {
  auto load = trace::make("constant", 10, 60);
  CHECK_THROWS(simulate(load, quiet("guess", 10)));
  CHECK_THROWS(simulate(load, quiet("capacity", 0)));
}
