// Several models behind one gateway: routing and batching by model, per-model figures, and each
// model's workers scaled within its own bounds, to zero and back.

#include <algorithm>
#include <catch2/catch.hpp>

#include "tests/actors/gateway_harness.hpp"

using namespace muse::actors;
using namespace muse::actors::testing;
using namespace std::chrono_literals;

namespace {

const model_figures* figures_of(const stats_snapshot& stats, const std::string& name) {
  for (auto& m : stats.models)
    if (m.name == name) return &m;
  return nullptr;
}

int ready_of(running_gateway& p, const std::string& name) {
  auto stats = p.stats();
  auto* m = figures_of(stats, name);
  return m ? m->ready_workers : 0;
}

}  // namespace

TEST_CASE("orders go to workers of the model they name, and batches never mix models",
          "[gateway][models]") {
  gateway_settings s;
  s.workers = 2;
  s.max_batch_size = 8;
  s.max_wait_ms = 30;
  s.models = {model_named("alpha"), model_named("beta")};
  running_gateway p(s);
  REQUIRE(eventually([&] { return ready_of(p, "alpha") == 1 && ready_of(p, "beta") == 1; }));
  CHECK(p.control->loads_of("alpha") == 1);
  CHECK(p.control->loads_of("beta") == 1);
  // Same size and scheduler: only the model tells them apart.
  for (int i = 0; i < 12; ++i)
    p.submit(make_order("o" + std::to_string(i), {sample(i), sample(100 + i)}, 20s,
                        i % 3 == 0 ? "" : (i % 3 == 1 ? "alpha" : "beta")));
  for (int i = 0; i < 12; ++i) {
    auto outcome = p.results.wait("o" + std::to_string(i));
    REQUIRE(outcome);
    REQUIRE_FALSE(outcome->error);
    CHECK(outcome->images.size() == 2);
  }
  auto steps = p.control->steps_copy();
  REQUIRE_FALSE(steps.empty());
  std::set<std::string> models_seen;
  for (auto& step : steps) {
    models_seen.insert(step.model);
    for (auto& key : step.keys) CHECK(key.rfind(step.model + "/", 0) == 0);  // its own model only
  }
  CHECK(models_seen == std::set<std::string>{"alpha", "beta"});
  // More than one sample per call: the model's samples did share calls.
  CHECK(p.control->max_step_size() > 1);

  auto stats = p.stats();
  REQUIRE(stats.models.size() == 2);
  CHECK(stats.models[0].name == "alpha");
  CHECK(stats.models[0].completed == 8);  // named, and the default (the first listed)
  CHECK(stats.models[0].images == 16);
  CHECK(stats.models[1].name == "beta");
  CHECK(stats.models[1].completed == 4);
  REQUIRE(stats.models[0].limits);
  CHECK(stats.models[0].limits->max_size == 64);
  REQUIRE(stats.workers);
  for (auto& w : stats.workers->list) CHECK((w.model == "alpha" || w.model == "beta"));
  CHECK(p.gw->limits("beta").max_size == 64);
}

TEST_CASE("an order naming no served model is refused invalid_request", "[gateway][models]") {
  gateway_settings s;
  s.models = {model_named("alpha")};
  running_gateway p(s);
  REQUIRE(p.wait_ready());
  p.submit(make_order("x", {sample(1)}, 20s, "gamma"));
  auto outcome = p.results.wait("x");
  REQUIRE(outcome);
  REQUIRE(outcome->error);
  CHECK(*outcome->error == failure::invalid_request);
  CHECK(outcome->message.find("gamma") != std::string::npos);
}

TEST_CASE("a model at min_workers 0 has no worker until asked, then scales back to zero",
          "[gateway][models][scaling]") {
  gateway_settings s;
  s.workers = 2;
  s.autoscale_interval_s = 1;
  s.models = {model_named("alpha", 1, 1), model_named("beta", 0, 1)};
  s.load_time = 300ms;
  running_gateway p(s);
  REQUIRE(eventually([&] { return ready_of(p, "alpha") == 1; }));
  CHECK(p.gw->ready());
  // Idle beta starts no worker.
  std::this_thread::sleep_for(1500ms);
  CHECK(p.control->loads_of("beta") == 0);
  {
    auto stats = p.stats();
    REQUIRE(stats.workers);
    CHECK(stats.workers->list.size() == 1);
  }
  // The first order for beta waits for the worker its demand starts, and is served.
  p.submit(make_order("wake", {sample(5)}, 20s, "beta"));
  auto outcome = p.results.wait("wake", 15s);
  REQUIRE(outcome);
  REQUIRE_FALSE(outcome->error);
  CHECK(outcome->images.size() == 1);
  CHECK(p.control->loads_of("beta") == 1);
  // Idle again: once its arrivals have left the rate's 10 s window and scale_down_after (2)
  // one-second intervals have passed, beta is drained to zero, while alpha keeps its min_workers.
  REQUIRE(eventually(
      [&] {
        auto stats = p.stats();
        return stats.workers && stats.workers->list.size() == 1 &&
               stats.workers->list[0].model == "alpha";
      },
      30s));
  auto stats = p.stats();
  CHECK(std::any_of(stats.decisions.begin(), stats.decisions.end(), [](auto& d) {
    return d.model == "beta" && d.decision.action == scaling_action::down && d.decision.target == 0;
  }));
  CHECK(std::any_of(stats.decisions.begin(), stats.decisions.end(), [](auto& d) {
    return d.model == "beta" && d.decision.action == scaling_action::up;
  }));
  // And back once more.
  p.submit(make_order("again", {sample(6)}, 20s, "beta"));
  auto again = p.results.wait("again", 15s);
  REQUIRE(again);
  REQUIRE_FALSE(again->error);
  CHECK(p.control->loads_of("beta") == 2);
}

TEST_CASE("each model scales by its own load within its own max_workers",
          "[gateway][models][scaling]") {
  gateway_settings s;
  s.workers = 3;
  s.autoscale_interval_s = 1;
  s.step_time = 20ms;
  s.models = {model_named("alpha", 1, 1), model_named("beta", 1, 2)};
  running_gateway p(s);
  REQUIRE(eventually([&] { return ready_of(p, "alpha") == 1 && ready_of(p, "beta") == 1; }));
  // Load on beta alone: beta grows to its max (2), alpha stays at 1 (its max), one slot stays
  // free for nobody.
  int orders = 0;
  REQUIRE(eventually(
      [&] {
        if (p.stats().orders.open < 8)
          p.submit(make_order("b" + std::to_string(orders++), {sample(1, 10), sample(2, 10)}, 20s,
                              "beta"));
        return ready_of(p, "beta") == 2;
      },
      15s));
  for (int i = 0; i < orders; ++i) REQUIRE(p.results.wait("b" + std::to_string(i)));
  auto stats = p.stats();
  CHECK(ready_of(p, "alpha") == 1);
  REQUIRE(stats.workers);
  CHECK(stats.workers->list.size() == 3);
  CHECK(p.control->loads_of("alpha") == 1);
  CHECK(std::none_of(stats.decisions.begin(), stats.decisions.end(), [](auto& d) {
    return d.model == "alpha" && d.decision.action == scaling_action::up;
  }));
}
