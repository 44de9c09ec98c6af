// The typed figures between the actors, and the face's plain types against model/'s.

#include <catch2/catch.hpp>

#include "actors/messages.hpp"
#include "actors/model_conversion.hpp"
#include "tests/actors/round_trip.hpp"

using namespace muse::actors;
using muse::actors::testing::round_trip;

TEST_CASE("a stats snapshot survives serialization, missing parts included", "[stats]") {
  stats_snapshot s;
  s.uptime_s = 3.5;
  s.ready = true;
  s.model = served_model{"tiny", {}};
  s.model->limits.schedulers = {"ddim"};
  s.orders.failed.at(static_cast<size_t>(failure::timeout)) = 4;
  s.batches.size_histogram = {{2, 3}};
  s.latency_ms.total = {1, 2, 3, 4};
  s.workers = worker_pool_figures{1, 2, 8, {worker_figures{}}};
  s.workers->list[0].id = "w1";
  s.workers->list[0].model = "tiny";
  s.workers->backlog_by_model = {{"tiny", 5}};
  model_figures tiny;
  tiny.name = "tiny";
  tiny.limits = model_limits{};
  tiny.limits->max_steps = 60;
  tiny.ready_workers = 1;
  tiny.completed = 7;
  model_figures idle;
  idle.name = "idle";
  s.models = {tiny, idle};
  scaling_record record;
  record.model = "tiny";
  record.decision = {3, scaling_action::down, "quiet"};
  record.inputs.queue_depth = 9;
  s.decisions = {record};

  auto copy = round_trip(s);
  CHECK(copy.uptime_s == 3.5);
  CHECK(copy.ready);
  REQUIRE(copy.model);
  CHECK(copy.model->name == "tiny");
  CHECK(copy.model->limits.schedulers == std::vector<std::string>{"ddim"});
  CHECK_FALSE(copy.queue);  // absent stays absent
  CHECK(copy.orders.failed_count(failure::timeout) == 4);
  CHECK(copy.orders.failed.size() == std::size(all_failures));
  CHECK(copy.batches.size_histogram.at(2) == 3);
  CHECK(copy.latency_ms.total.p99 == 3);
  CHECK(copy.latency_ms.total.count == 4);
  REQUIRE(copy.workers);
  CHECK(copy.workers->total == 2);
  REQUIRE(copy.workers->list.size() == 1);
  CHECK(copy.workers->list[0].id == "w1");
  CHECK(copy.workers->list[0].model == "tiny");
  CHECK(copy.workers->backlog_by_model.at("tiny") == 5);
  REQUIRE(copy.models.size() == 2);
  CHECK(copy.models[0].name == "tiny");
  REQUIRE(copy.models[0].limits);
  CHECK(copy.models[0].limits->max_steps == 60);
  CHECK(copy.models[0].ready_workers == 1);
  CHECK(copy.models[0].completed == 7);
  CHECK_FALSE(copy.models[1].limits);
  CHECK(copy.decisions[0].model == "tiny");
  REQUIRE(copy.decisions.size() == 1);
  CHECK(copy.decisions[0].decision.action == scaling_action::down);
  CHECK(copy.decisions[0].decision.target == 3);
  CHECK(copy.decisions[0].inputs.queue_depth == 9);

  s.model.reset();
  s.queue = queue_figures{1, 2, 3, 4.5, 6, 7, 8, {{"tiny", 3}}, {{"tiny", 0.25}}};
  copy = round_trip(s);
  CHECK(copy.queue->batcher_depth_by_model.at("tiny") == 3);
  CHECK(copy.queue->arrivals_by_model.at("tiny") == 0.25);
  CHECK_FALSE(copy.model);
  REQUIRE(copy.queue);
  CHECK(copy.queue->arrivals_per_s == 4.5);
  CHECK(copy.queue->balancer_backlog == 8);
}

TEST_CASE("the face's request and limits carry every field to model/ and back", "[stats]") {
  sample_request r;
  r.prompt = "a lighthouse";
  r.negative_prompt = "fog";
  r.steps = 31;
  r.guidance_scale = 3.25f;
  r.seed = 1234567890123ull;
  r.width = 96;
  r.height = 48;
  r.scheduler = "euler";
  r.init_image.width = 1;
  r.init_image.height = 2;
  r.init_image.pixels = {9, 8, 7, 6, 5, 4};
  r.strength = 0.55;
  r.original_width = 2048;
  r.original_height = 1536;
  r.crop_top = 16;
  r.crop_left = 32;
  auto m = to_model(r);
  CHECK(m.prompt == r.prompt);
  CHECK(m.negative_prompt == r.negative_prompt);
  CHECK(m.steps == 31);
  CHECK(m.guidance_scale == 3.25f);
  CHECK(m.seed == r.seed);
  CHECK(m.width == 96);
  CHECK(m.height == 48);
  CHECK(m.scheduler == "euler");
  CHECK(m.init_image.width == 1);
  CHECK(m.init_image.height == 2);
  CHECK(m.init_image.pixels == r.init_image.pixels);
  CHECK(m.strength == 0.55);
  CHECK(m.original_width == 2048);
  CHECK(m.original_height == 1536);
  CHECK(m.crop_top == 16);
  CHECK(m.crop_left == 32);

  muse::model::model_limits ml;
  ml.min_size = 16;
  ml.max_size = 320;
  ml.size_multiple = 16;
  ml.default_width = 80;
  ml.default_height = 48;
  ml.max_pixels = 12345;
  ml.memory_budget_mb = 777;
  ml.max_steps = 99;
  ml.schedulers = {"ddim", "euler"};
  auto l = from_model(ml);
  CHECK(l.min_size == 16);
  CHECK(l.max_size == 320);
  CHECK(l.size_multiple == 16);
  CHECK(l.default_width == 80);
  CHECK(l.default_height == 48);
  CHECK(l.max_pixels == 12345);
  CHECK(l.memory_budget_mb == 777);
  CHECK(l.max_steps == 99);
  CHECK(l.schedulers == ml.schedulers);
}
