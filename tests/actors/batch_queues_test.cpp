#include "actors/batch_queues.hpp"

#include <catch2/catch.hpp>

using namespace muse::actors;
using namespace std::chrono_literals;

namespace {

sample_task task(sample_id id, int width = 64, int steps = 25, std::string scheduler = "ddim",
                 float guidance = 7.5f, std::string model = "") {
  sample_task t;
  t.id = id;
  t.model = std::move(model);
  t.order_id = "o" + std::to_string(id);
  t.request.width = width;
  t.request.height = 64;
  t.request.steps = steps;
  t.request.guidance_scale = guidance;
  t.request.scheduler = std::move(scheduler);
  return t;
}

}  // namespace

TEST_CASE("a queue leaves as a batch when it reaches max_batch_size", "[batcher]") {
  batch_queues queues(3, 50ms);
  auto t0 = batch_queues::clock::now();
  CHECK_FALSE(queues.push(task(1), t0));
  CHECK_FALSE(queues.push(task(2), t0));
  auto full = queues.push(task(3), t0);
  REQUIRE(full);
  REQUIRE(full->samples.size() == 3);
  CHECK(full->samples[0].id == 1);
  CHECK(full->samples[2].id == 3);
  CHECK(queues.depth() == 0);
  CHECK(queues.keys() == 0);
  CHECK_FALSE(queues.next_due());
}

TEST_CASE("a queue leaves when its oldest sample has waited max_wait", "[batcher]") {
  batch_queues queues(8, 50ms);
  auto t0 = batch_queues::clock::now();
  queues.push(task(1), t0);
  queues.push(task(2), t0 + 30ms);
  REQUIRE(queues.next_due() == t0 + 50ms);
  CHECK(queues.take_due(t0 + 49ms).empty());
  auto due = queues.take_due(t0 + 50ms);
  REQUIRE(due.size() == 1);
  CHECK(due[0].samples.size() == 2);  // the younger one rides along
  CHECK(queues.depth() == 0);
}

TEST_CASE("different batch keys are never mixed", "[batcher]") {
  batch_queues queues(2, 50ms);
  auto t0 = batch_queues::clock::now();
  CHECK_FALSE(queues.push(task(1, 64), t0));
  CHECK_FALSE(queues.push(task(2, 32), t0));
  CHECK_FALSE(queues.push(task(3, 64, 25, "euler"), t0));
  CHECK(queues.keys() == 3);
  auto full = queues.push(task(4, 32, 50), t0 + 1ms);
  REQUIRE(full);
  CHECK(full->samples[0].id == 2);
  CHECK(full->samples[1].id == 4);
  CHECK(full->key == (batch_key{"", 32, 64, "ddim"}));
  auto due = queues.take_due(t0 + 60ms);
  REQUIRE(due.size() == 2);
  for (auto& b : due) {
    REQUIRE(b.samples.size() == 1);
    CHECK(b.key == batch_key_of(b.samples[0]));
  }
}

TEST_CASE("Fast and Quality samples of one size and scheduler share a batch", "[batcher]") {
  batch_queues queues(3, 50ms);
  auto t0 = batch_queues::clock::now();
  CHECK_FALSE(queues.push(task(1, 64, 25), t0));
  CHECK_FALSE(queues.push(task(2, 64, 50, "ddim", 1.0f), t0));
  CHECK(queues.keys() == 1);
  auto full = queues.push(task(3, 64, 25, "ddim", 3.0f), t0);
  REQUIRE(full);
  REQUIRE(full->samples.size() == 3);
  CHECK(full->samples[0].request.steps == 25);
  CHECK(full->samples[1].request.steps == 50);
  CHECK(full->samples[1].request.guidance_scale == 1.0f);
  CHECK(full->key == (batch_key{"", 64, 64, "ddim"}));
  CHECK(queues.depth() == 0);
}

TEST_CASE("the oldest of several queues falls due first", "[batcher]") {
  batch_queues queues(8, 50ms);
  auto t0 = batch_queues::clock::now();
  queues.push(task(1, 64), t0 + 10ms);
  queues.push(task(2, 32), t0);
  CHECK(queues.next_due() == t0 + 50ms);
  auto due = queues.take_due(t0 + 55ms);
  REQUIRE(due.size() == 1);
  CHECK(due[0].samples[0].id == 2);
  CHECK(queues.next_due() == t0 + 60ms);
}

TEST_CASE("cancelled samples leave their queue", "[batcher]") {
  batch_queues queues(8, 50ms);
  auto t0 = batch_queues::clock::now();
  queues.push(task(1), t0);
  queues.push(task(2), t0);
  queues.push(task(3, 32), t0);
  auto removed = queues.remove({2, 3, 99});
  CHECK(removed.size() == 2);
  CHECK(queues.depth() == 1);
  CHECK(queues.keys() == 1);
  auto due = queues.take_due(t0 + 50ms);
  REQUIRE(due.size() == 1);
  REQUIRE(due[0].samples.size() == 1);
  CHECK(due[0].samples[0].id == 1);
}

TEST_CASE("samples of different models never share a queue", "[batching][models]") {
  batch_queues queues(2, 50ms);
  auto t0 = batch_queues::clock::now();
  CHECK_FALSE(queues.push(task(1, 64, 25, "ddim", 7.5f, "alpha"), t0));
  CHECK_FALSE(queues.push(task(2, 64, 25, "ddim", 7.5f, "beta"), t0));
  CHECK(queues.keys() == 2);
  CHECK(queues.depth_by_model() == std::map<std::string, uint64_t>{{"alpha", 1}, {"beta", 1}});
  auto full = queues.push(task(3, 64, 25, "ddim", 7.5f, "beta"), t0);
  REQUIRE(full);
  CHECK(full->key == (batch_key{"beta", 64, 64, "ddim"}));
  for (auto& t : full->samples) CHECK(t.model == "beta");
  auto due = queues.take_due(t0 + 60ms);
  REQUIRE(due.size() == 1);
  CHECK(due[0].key.model == "alpha");
  CHECK(queues.depth_by_model().empty());
}
