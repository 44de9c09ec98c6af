#include "actors/messages.hpp"

#include <catch2/catch.hpp>

#include "tests/actors/round_trip.hpp"

using namespace muse::actors;
using muse::actors::testing::round_trip;

TEST_CASE("a batch survives serialization", "[messages]") {
  batch b;
  b.id = 42;
  b.key = batch_key{"muse-tiny", 64, 48, "ddim"};
  sample_task task;
  task.id = 7;
  task.order_id = "order-1";
  task.model = "muse-tiny";
  task.attempts = 2;
  task.request.prompt = "a lighthouse";
  task.request.negative_prompt = "fog";
  task.request.steps = 25;
  task.request.guidance_scale = 6.5f;
  task.request.seed = 1234567890123ull;
  task.request.scheduler = "ddim";
  b.samples = {task, task};
  b.samples[1].id = 8;
  // The second starts from an image (image to image).
  b.samples[1].request.init_image.width = 2;
  b.samples[1].request.init_image.height = 1;
  b.samples[1].request.init_image.pixels = {1, 2, 3, 250, 251, 252};
  b.samples[1].request.strength = 0.35;
  auto copy = round_trip(b);
  CHECK(copy.id == 42);
  CHECK(copy.key == b.key);
  REQUIRE(copy.samples.size() == 2);
  CHECK(copy.samples[1].id == 8);
  CHECK(copy.samples[0].order_id == "order-1");
  CHECK(copy.samples[0].model == "muse-tiny");
  CHECK(copy.samples[0].attempts == 2);
  CHECK(copy.samples[0].request.prompt == "a lighthouse");
  CHECK(copy.samples[0].request.negative_prompt == "fog");
  CHECK(copy.samples[0].request.guidance_scale == 6.5f);
  CHECK(copy.samples[0].request.seed == 1234567890123ull);
  CHECK(copy.samples[0].request.init_image.width == 0);
  CHECK(copy.samples[0].request.strength == 0.8);
  CHECK(copy.samples[1].request.init_image.width == 2);
  CHECK(copy.samples[1].request.init_image.height == 1);
  CHECK(copy.samples[1].request.init_image.pixels == b.samples[1].request.init_image.pixels);
  CHECK(copy.samples[1].request.strength == 0.35);
}

TEST_CASE("results, options and worker info survive serialization", "[messages]") {
  sample_result result;
  result.id = 9;
  result.png = std::string("\x89PNG\0\x01", 6);
  result.seed = 5;
  result.failure_code = to_code(failure::cancelled);
  result.message = "cancelled";
  auto r = round_trip(result);
  CHECK(r.png == result.png);
  CHECK(from_code(r.failure_code) == failure::cancelled);

  worker_options options;
  options.id = "w3";
  options.node = "gpu-2";
  options.device = "cuda:1";
  options.step_level = false;
  options.model_name = "sd15";
  options.model.path = "/models/sd15.safetensors";
  options.model.config_dir = "/models/sd15-configs";
  options.model.scheduler = "euler";
  options.model.cuda.graphs = false;
  options.model.memory_budget_mb = int64_t{1} << 33;
  auto o = round_trip(options);
  CHECK(o.id == "w3");
  CHECK(o.device == "cuda:1");
  CHECK(o.model_name == "sd15");
  CHECK_FALSE(o.step_level);
  CHECK(o.model.path == "/models/sd15.safetensors");
  CHECK(o.model.config_dir == "/models/sd15-configs");
  CHECK(o.model.scheduler == "euler");
  CHECK_FALSE(o.model.cuda.graphs);
  CHECK(o.model.cuda.fused_kernels);
  CHECK(o.model.memory_budget_mb == int64_t{1} << 33);

  worker_info info;
  info.model_name = "muse-tiny";
  info.limits.schedulers = {"ddim", "euler"};
  info.limits.max_steps = 150;
  auto i = round_trip(info);
  CHECK(i.model_name == "muse-tiny");
  CHECK(i.limits.schedulers.size() == 2);
  CHECK(i.limits.max_steps == 150);
}

TEST_CASE("failure codes map both ways", "[messages]") {
  CHECK(to_code(std::nullopt) == 0);
  CHECK_FALSE(from_code(0));
  for (auto f : {failure::invalid_request, failure::queue_full, failure::no_worker,
                 failure::timeout, failure::cancelled, failure::shutting_down, failure::internal})
    CHECK(from_code(to_code(f)) == f);
  CHECK(from_code(200) == failure::internal);
  CHECK(std::string(to_string(failure::queue_full)) == "queue_full");
}

TEST_CASE("the batch key names model, size and scheduler, not steps or guidance", "[messages]") {
  muse::model::sample_request a, b;
  a.scheduler = b.scheduler = "ddim";
  CHECK(batch_key_of("m", a) == batch_key_of("m", b));
  b.seed = 99;
  b.prompt = "other";
  b.guidance_scale = 1.0f;
  b.steps = 50;
  CHECK(a.steps == 25);
  CHECK(batch_key_of("m", a) == batch_key_of("m", b));  // these may differ within one batch
  CHECK_FALSE(batch_key_of("m", a) < batch_key_of("m", b));
  CHECK_FALSE(batch_key_of("m", b) < batch_key_of("m", a));
  b = a;
  b.height = 32;
  CHECK(batch_key_of("m", a) != batch_key_of("m", b));
  b = a;
  b.width = 32;
  CHECK(batch_key_of("m", a) != batch_key_of("m", b));
  b = a;
  b.scheduler = "euler";
  CHECK(batch_key_of("m", a) != batch_key_of("m", b));
  CHECK((batch_key_of("m", a) < batch_key_of("m", b)) !=
        (batch_key_of("m", b) < batch_key_of("m", a)));
  a.width = 96;
  CHECK(to_string(batch_key_of("m", a)) == "m/96x64/ddim");
  CHECK(to_string(batch_key_of("", a)) == "96x64/ddim");
  b = a;
  CHECK(batch_key_of("m", a) != batch_key_of("n", b));  // another model, another batch
  CHECK(batch_key_of("m", a) < batch_key_of("n", b));
}
