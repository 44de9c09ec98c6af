// Several models behind one server: the `model` field of the native, job and OpenAI routes, the
// 400 for a name no model has, and the two listing routes.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/server_on_fake_gateway.hpp"

using nlohmann::json;

namespace {

muse::config::deployment_config two_models() {
  muse::config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.request_timeout_s = 30;
  muse::config::model_config fast;
  fast.name = "fast";
  fast.fast_steps = 4;
  fast.quality_steps = 8;
  fast.width = 32;
  fast.height = 48;
  fast.min_workers = 0;
  fast.max_workers = 2;
  muse::config::model_config fine;
  fine.name = "fine";
  fine.fast_steps = 20;
  fine.quality_steps = 40;
  fine.width = 64;
  fine.height = 64;
  fine.scheduler = "ddim";
  config.models = {fast, fine};
  return config;
}

struct running_server : muse::testing::server_on_fake_gateway {
  running_server() : server_on_fake_gateway(two_models()) {
    gateway.model_names_ = {"fast", "fine"};
  }
};

}  // namespace

TEST_CASE("the model field picks the model, its defaults and its name on the order",
          "[server][models]") {
  running_server s;
  auto named = s.post("/api/v1/generate", R"({"prompt": "a cat", "model": "fine", "seed": 1})");
  REQUIRE(named.status == 200);
  CHECK(json::parse(named.body)["steps"] == 20);  // fine's fast_steps
  auto absent = s.post("/api/v1/generate", R"({"prompt": "a cat", "seed": 1})");
  REQUIRE(absent.status == 200);
  CHECK(json::parse(absent.body)["steps"] == 4);  // the first listed is the default
  auto job = s.post("/api/v1/jobs", R"({"prompt": "a cat", "model": "fine"})");
  CHECK(job.status == 202);
  auto openai = s.post("/v1/images/generations", R"({"prompt": "a cat", "model": "fine"})");
  CHECK(openai.status == 200);
  s.gateway.wait_submitted(4);
  auto orders = s.gateway.submitted();
  REQUIRE(orders.size() == 4);
  CHECK(orders[0].model == "fine");
  CHECK(orders[0].samples[0].width == 64);
  CHECK(orders[1].model == "fast");
  CHECK(orders[1].samples[0].width == 32);
  CHECK(orders[1].samples[0].height == 48);
  CHECK(orders[2].model == "fine");
  CHECK(orders[3].model == "fine");
}

TEST_CASE("a model no one serves is a 400 naming it and the served ones", "[server][models]") {
  running_server s;
  auto native = s.post("/api/v1/generate", R"({"prompt": "a cat", "model": "sdxl"})");
  REQUIRE(native.status == 400);
  auto error = json::parse(native.body)["error"];
  CHECK(error["code"] == "invalid_request");
  CHECK(error["field"] == "model");
  CHECK(error["message"] == "unknown model \"sdxl\"; this server serves \"fast\", \"fine\"");

  auto openai = s.post("/v1/images/generations", R"({"prompt": "a cat", "model": "dall-e-3"})");
  REQUIRE(openai.status == 400);
  auto openai_error = json::parse(openai.body)["error"];
  CHECK(openai_error["param"] == "model");
  CHECK(openai_error["message"].get<std::string>().find("dall-e-3") != std::string::npos);

  auto wrong_type = s.post("/api/v1/generate", R"({"prompt": "a cat", "model": 3})");
  CHECK(wrong_type.status == 400);
  CHECK(json::parse(wrong_type.body)["error"]["field"] == "model");
  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("GET /v1/models lists the models in OpenAI's shape", "[server][models]") {
  running_server s;
  auto response = s.get("/v1/models");
  REQUIRE(response.status == 200);
  auto body = json::parse(response.body);
  CHECK(body["object"] == "list");
  REQUIRE(body["data"].size() == 2);
  CHECK(body["data"][0]["id"] == "fast");
  CHECK(body["data"][0]["object"] == "model");
  CHECK(body["data"][0]["owned_by"] == "muse");
  CHECK(body["data"][0]["created"].is_number_integer());
  CHECK(body["data"][1]["id"] == "fine");
}

TEST_CASE("GET /api/v1/models gives each model's defaults and limits", "[server][models]") {
  running_server s;
  auto response = s.get("/api/v1/models");
  REQUIRE(response.status == 200);
  auto body = json::parse(response.body);
  CHECK(body["default"] == "fast");
  REQUIRE(body["models"].size() == 2);
  auto fast = body["models"][0];
  CHECK(fast["name"] == "fast");
  CHECK(fast["default"] == true);
  CHECK(fast["ready"] == true);
  CHECK(fast["default_size"] == json{{"width", 32}, {"height", 48}});
  CHECK(fast["steps"]["fast"] == 4);
  CHECK(fast["steps"]["quality"] == 8);
  CHECK(fast["steps"]["max"] == 100);  // the fake gateway's limits
  CHECK(fast["schedulers"] == json{"ddim"});
  CHECK(fast["workers"] == json{{"min", 0}, {"max", 2}});
  CHECK(fast["limits"]["max_size"] == 128);
  CHECK(fast["limits"]["size_multiple"] == 16);
  auto fine = body["models"][1];
  CHECK(fine["name"] == "fine");
  CHECK(fine["default"] == false);
  CHECK(fine["default_size"] == json{{"width", 64}, {"height", 64}});

  // Before any worker loaded a model its limits are unknown.
  s.gateway.model_names_ = {"fine"};
  auto partial = json::parse(s.get("/api/v1/models").body);
  CHECK(partial["models"][0]["limits"].is_null());
  CHECK(partial["models"][0]["ready"] == false);
  CHECK(partial["models"][0]["schedulers"].is_null());
  CHECK(partial["models"][1]["limits"]["max_size"] == 128);
}

TEST_CASE("GET /api/v1/stats lists each model with its default size", "[server][models]") {
  running_server s;
  auto body = json::parse(s.get("/api/v1/stats").body);
  REQUIRE(body["models"].size() == 2);
  CHECK(body["models"][0]["name"] == "fast");
  CHECK(body["models"][0]["default_size"] == json{{"width", 32}, {"height", 48}});
  CHECK(body["models"][1]["limits"]["max_size"] == 128);
  CHECK(body["model"]["default_size"] == json{{"width", 32}, {"height", 48}});
}

TEST_CASE("a job for a model with no worker ready says it waits for the model to load",
          "[server][models]") {
  running_server s;
  s.gateway.scaled_to_zero_ = {"fast"};
  auto loaded = json::parse(s.post("/api/v1/jobs", R"({"prompt": "hold", "model": "fine"})").body);
  CHECK_FALSE(loaded["progress"].contains("waiting_for"));
  auto waiting = s.post("/api/v1/jobs", R"({"prompt": "hold", "model": "fast"})");
  REQUIRE(waiting.status == 202);
  auto body = json::parse(waiting.body);
  CHECK(body["progress"]["waiting_for"] == "loading model");
  const std::string path = "/api/v1/jobs/" + body["id"].get<std::string>();
  CHECK(json::parse(s.get(path).body)["progress"]["waiting_for"] == "loading model");
  s.gateway.release_held();
}
