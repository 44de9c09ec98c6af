// AUTOMATIC1111's API against the scripted gateway: what a txt2img order asks for and how it is
// answered, the progress of what runs on the gateway, the model and samplers lists, errors and
// API keys.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>

#include "frontend_server.hpp"
#include "http/base64.hpp"

using muse::testing::fake_gateway;
using muse::testing::frontend_server;
using muse::testing::http_request;
using nlohmann::json;

namespace {

json progress(frontend_server& s) {
  auto response = s.get("/sdapi/v1/progress");
  REQUIRE(response.status == 200);
  return json::parse(response.body);
}

// A job (not tied to a connection) held by the scripted gateway; its order's id.
std::string held_job(frontend_server& s, size_t count_so_far) {
  REQUIRE(s.post("/api/v1/jobs", R"({"prompt": "a fox", "steps": 10})").status == 202);
  std::string id = s.gateway.wait_submitted(count_so_far + 1);
  REQUIRE_FALSE(id.empty());
  return id;
}

}  // namespace

TEST_CASE("A1111 txt2img: the order asked for, and A1111's answer", "[a1111]") {
  frontend_server s;
  auto answer = std::async(std::launch::async, [&] {
    return s.post("/sdapi/v1/txt2img", R"({"prompt": "a fox", "negative_prompt": "fog",
        "steps": 12, "cfg_scale": 5, "width": 96, "height": 64, "seed": 77,
        "sampler_name": "DDIM", "batch_size": 2, "n_iter": 1, "restore_faces": false,
        "send_images": true, "save_images": false, "override_settings": {}})");
  });
  const std::string id = s.gateway.wait_submitted(1);
  REQUIRE_FALSE(id.empty());
  const auto order = s.gateway.order(id);
  REQUIRE(order.samples.size() == 2);
  CHECK(order.samples[0].prompt == "a fox");
  CHECK(order.samples[0].negative_prompt == "fog");
  CHECK(order.samples[0].steps == 12);
  CHECK(order.samples[0].guidance_scale == 5);
  CHECK(order.samples[0].width == 96);
  CHECK(order.samples[0].height == 64);
  CHECK(order.samples[0].scheduler == "ddim");
  CHECK(order.samples[1].seed == 78);
  s.gateway.complete(id);

  auto response = answer.get();
  REQUIRE(response.status == 200);
  CHECK(response.headers["x-request-id"] == id);
  const json body = json::parse(response.body);
  REQUIRE(body["images"].size() == 2);
  CHECK(body["images"][1] == muse::http::base64_encode(fake_gateway::fake_png(78)));
  CHECK(body["parameters"]["prompt"] == "a fox");
  CHECK(body["parameters"]["seed"] == 77);
  const json info = json::parse(body["info"].get<std::string>());
  CHECK(info["all_seeds"] == json({77, 78}));
  CHECK(info["sampler_name"] == "DDIM");
  CHECK(info["sd_model_name"] == "muse-tiny");  // the default config's model path
}

TEST_CASE("A1111 errors: native shape, A1111's fields and statuses", "[a1111]") {
  frontend_server s;
  auto refused = s.post("/sdapi/v1/txt2img", R"({"prompt": "a", "enable_hr": true})");
  CHECK(refused.status == 400);
  json body = json::parse(refused.body);
  CHECK(body["error"]["code"] == "invalid_request");
  CHECK(body["error"]["field"] == "enable_hr");
  CHECK(body["detail"] == body["error"]["message"]);

  // Checked by the native validation, answered with A1111's names.
  auto cfg = s.post("/sdapi/v1/txt2img", R"({"prompt": "a", "cfg_scale": 50})");
  CHECK(cfg.status == 400);
  CHECK(json::parse(cfg.body)["error"]["field"] == "cfg_scale");
  CHECK(json::parse(cfg.body)["error"]["message"] == "cfg_scale must be 0..30");
  CHECK(s.post("/sdapi/v1/txt2img", R"({"steps": "ten"})").status == 422);
  CHECK(s.post("/sdapi/v1/img2img", R"({"prompt": "a"})").status == 400);
  CHECK(s.gateway.submitted().empty());

  // A gateway's failure keeps its status (and Retry-After).
  auto answer = std::async(std::launch::async,
                           [&] { return s.post("/sdapi/v1/txt2img", R"({"prompt": "a"})"); });
  const std::string id = s.gateway.wait_submitted(1);
  REQUIRE_FALSE(id.empty());
  s.gateway.complete(id, muse::actors::failure::queue_full);
  auto full = answer.get();
  CHECK(full.status == 429);
  CHECK(full.headers["retry-after"] == "1");
  CHECK(json::parse(full.body)["error"]["code"] == "queue_full");
}

TEST_CASE("A1111 progress: idle, then the oldest running order of the gateway", "[a1111]") {
  frontend_server s;
  json idle = progress(s);
  CHECK(idle["progress"] == 0);
  CHECK(idle["eta_relative"] == 0);
  CHECK(idle["state"]["job_count"] == 0);
  CHECK(idle["state"]["sampling_step"] == 0);
  CHECK(idle["current_image"].is_null());
  CHECK(idle.contains("textinfo"));

  const std::string first = held_job(s, 0);
  const std::string second = held_job(s, 1);
  // Nothing denoised yet: the oldest waiting one.
  json waiting = progress(s);
  CHECK(waiting["state"]["job_count"] == 1);
  CHECK(waiting["current_task"] == first);
  CHECK(waiting["state"]["sampling_steps"] == 10);
  CHECK(waiting["progress"] == 0);

  // The second runs first: it is the oldest running.
  s.gateway.progress(second, 4, 10);
  json running = progress(s);
  CHECK(running["current_task"] == second);
  CHECK(running["state"]["sampling_step"] == 4);
  CHECK(running["progress"] == 0.4);
  CHECK(running["eta_relative"].get<double>() >= 0);
  CHECK(running["textinfo"] == "Step 4/10");

  // Once the first runs too, it is the one reported.
  s.gateway.progress(first, 1, 10);
  CHECK(progress(s)["current_task"] == first);
  s.gateway.complete(first);
  CHECK(progress(s)["current_task"] == second);
  s.gateway.complete(second);
  CHECK(progress(s)["state"]["job_count"] == 0);

  // A txt2img order is reported as any other.
  auto answer = std::async(std::launch::async,
                           [&] { return s.post("/sdapi/v1/txt2img", R"({"steps": 6})"); });
  const std::string third = s.gateway.wait_submitted(3);
  REQUIRE_FALSE(third.empty());
  s.gateway.progress(third, 3, 6);
  CHECK(progress(s)["progress"] == 0.5);
  s.gateway.complete(third);
  CHECK(answer.get().status == 200);
  CHECK(progress(s)["progress"] == 0);
}

TEST_CASE("A1111 lists: the served model and its samplers by A1111's names", "[a1111]") {
  auto config = muse::testing::frontend_config();
  auto& model = config.models.front();
  model.path = "/models/dreamshaper_8.safetensors";
  model.name = muse::config::derived_model_name(model);  // as the config parser names it
  frontend_server s(config);
  auto models = s.get("/sdapi/v1/sd-models");
  REQUIRE(models.status == 200);
  const json list = json::parse(models.body);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["title"] == "dreamshaper_8");
  CHECK(list[0]["model_name"] == "dreamshaper_8");

  auto samplers = s.get("/sdapi/v1/samplers");
  REQUIRE(samplers.status == 200);
  // The fake gateway's model has DDIM only.
  CHECK(json::parse(samplers.body) ==
        json::parse(R"([{"name": "DDIM", "aliases": ["ddim"], "options": {}}])"));

  s.gateway.ready_ = false;
  CHECK(s.get("/sdapi/v1/samplers").status == 503);
}

TEST_CASE("A1111 routes need an API key as the other generating routes do", "[a1111]") {
  ::setenv("MUSE_A1111_TEST_KEYS", "key-one", 1);
  auto config = muse::testing::frontend_config();
  config.auth.api_keys_env = "MUSE_A1111_TEST_KEYS";
  frontend_server s(config);
  for (const auto& path : {"/sdapi/v1/progress", "/sdapi/v1/sd-models", "/sdapi/v1/samplers"}) {
    INFO(path);
    CHECK(s.get(path).status == 401);
    CHECK(http_request("GET", s.url(path), "", {"Authorization: Bearer key-one"}).status == 200);
  }
  CHECK(s.post("/sdapi/v1/txt2img", R"({"prompt": "a"})").status == 401);
  CHECK(s.post("/sdapi/v1/img2img", R"({"prompt": "a"})").status == 401);
  CHECK(s.gateway.submitted().empty());
  ::unsetenv("MUSE_A1111_TEST_KEYS");
}
