// GET /api/v1/jobs and the owner rule: a job belongs to the API key that created it.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "http/access.hpp"
#include "http/jobs.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_on_fake_gateway.hpp"

using muse::http::job_origin;
using muse::http::job_status;
using muse::http::job_store;
using muse::testing::fake_gateway;
using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::server_on_fake_gateway;
using nlohmann::json;

namespace {

constexpr const char* keys_variable = "MUSE_JOB_LIST_TEST_KEYS";

muse::config::deployment_config list_config(bool with_keys) {
  muse::config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.http_threads = 2;
  config.gateway.max_body_bytes = 4096;
  config.models[0].width = 64;
  config.models[0].height = 64;
  config.models[0].scheduler = "ddim";
  if (with_keys) {
    ::setenv(keys_variable, "key-one,key-two", 1);
    config.auth.api_keys_env = keys_variable;
  }
  return config;
}

// Orders wait until the test completes them, so jobs stay queued until then.
struct keyed_server : server_on_fake_gateway {
  explicit keyed_server(bool with_keys = true)
      : server_on_fake_gateway(list_config(with_keys), fake_gateway::answers::scripted) {}

  http_response as(const std::string& key, const std::string& method, const std::string& path,
                   const std::string& body = "") const {
    std::vector<std::string> headers;
    if (!key.empty()) headers.push_back("X-API-Key: " + key);
    return http_request(method, url(path), body, headers);
  }
  std::string create(const std::string& key, const std::string& prompt = "a cat") {
    auto created = as(key, "POST", "/api/v1/jobs", json{{"prompt", prompt}}.dump());
    REQUIRE(created.status == 202);
    return json::parse(created.body)["id"];
  }
  json list(const std::string& key, const std::string& query = "") const {
    auto listed = as(key, "GET", "/api/v1/jobs" + query);
    REQUIRE(listed.status == 200);
    return json::parse(listed.body)["jobs"];
  }
};

std::vector<std::string> ids_of(const json& jobs) {
  std::vector<std::string> ids;
  for (const auto& job : jobs) ids.push_back(job["id"]);
  return ids;
}

json error_of(const http_response& response) { return json::parse(response.body)["error"]; }

}  // namespace

TEST_CASE("a job's owner is kept as the key's SHA-256, never the key", "[jobs][list]") {
  // Python: hashlib.sha256(b"key-one").hexdigest()
  CHECK(muse::http::key_fingerprint("key-one") ==
        "9b346041bc9a49574eb2665b2ad2a0a3f9f9cce4e42f5d1f26deb8a256b5966a");
  CHECK(muse::http::key_fingerprint("key-two") != muse::http::key_fingerprint("key-one"));
}

TEST_CASE("the store lists an owner's jobs newest first, filtered and limited", "[jobs][list]") {
  job_store jobs(std::chrono::seconds(60), 10);
  REQUIRE(jobs.create("a1", 10, "", job_origin{"alice", ""}));
  REQUIRE(jobs.create("b1", 10, "", job_origin{"bob", ""}));
  REQUIRE(jobs.create("a2", 10, "", job_origin{"alice", ""}));
  REQUIRE(jobs.create("a3", 10, "", job_origin{"alice", ""}));
  jobs.progress("a2", {1, 10, {}});

  auto alice = jobs.list("alice", std::nullopt, 50);
  REQUIRE(alice.size() == 3);
  CHECK(alice[0].id == "a3");
  CHECK(alice[1].id == "a2");
  CHECK(alice[2].id == "a1");
  // Places in line count every queued job of the server, whoever's: b1 is ahead of a3.
  CHECK(alice[0].queue_position == 3);
  CHECK(alice[1].queue_position == 0);
  CHECK(alice[2].queue_position == 1);
  CHECK(alice[0].queue_position == jobs.find("a3")->queue_position);

  CHECK(jobs.list("alice", std::nullopt, 1).size() == 1);
  auto queued = jobs.list("alice", job_status::queued, 50);
  REQUIRE(queued.size() == 2);
  CHECK(queued[0].id == "a3");
  CHECK(jobs.list("alice", job_status::done, 50).empty());
  CHECK(jobs.list("carol", std::nullopt, 50).empty());
  CHECK(jobs.list("", std::nullopt, 50).empty());
  CHECK(jobs.find("a1")->created_s > 1600000000);
}

TEST_CASE("GET /api/v1/jobs lists the caller's own jobs, newest first", "[jobs][list][server]") {
  keyed_server s;
  const std::string one_a = s.create("key-one", "first");
  const std::string two_a = s.create("key-two");
  const std::string one_b = s.create("key-one", "second");
  const std::string one_c = s.create("key-one", "third");

  json mine = s.list("key-one");
  CHECK(ids_of(mine) == std::vector<std::string>{one_c, one_b, one_a});
  CHECK(ids_of(s.list("key-two")) == std::vector<std::string>{two_a});
  // The GET shape without PNGs: the created time, the place in line while queued.
  CHECK(mine[0]["status"] == "queued");
  CHECK(mine[0]["queue_position"] == 4);
  CHECK(mine[2]["queue_position"] == 1);
  CHECK(mine[0]["created"].get<int64_t>() > 1600000000);
  CHECK(mine[0]["progress"]["total"] == 25);
  // The key itself is kept nowhere the API shows.
  CHECK(mine.dump().find("key-one") == std::string::npos);

  CHECK(ids_of(s.list("key-one", "?limit=2")) == std::vector<std::string>{one_c, one_b});
  s.gateway.complete(one_b);
  s.gateway.complete(one_a, muse::actors::failure::internal);
  CHECK(ids_of(s.list("key-one", "?status=done")) == std::vector<std::string>{one_b});
  CHECK(ids_of(s.list("key-one", "?status=queued&limit=5")) == std::vector<std::string>{one_c});
  json failed = s.list("key-one", "?status=failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["error"]["code"] == "internal");
  json done = s.list("key-one", "?status=done")[0];
  REQUIRE(done["images"].size() == 1);
  CHECK_FALSE(done["images"][0].contains("png_base64"));
  CHECK(s.list("key-two", "?status=done").empty());
  CHECK(s.as("", "GET", "/api/v1/jobs").status == 401);
}

TEST_CASE("another key's job is not found, as an unknown one", "[jobs][list][server]") {
  keyed_server s;
  const std::string id = s.create("key-one");
  auto unknown = s.as("key-two", "GET", "/api/v1/jobs/000000000000000000000000");
  auto theirs = s.as("key-two", "GET", "/api/v1/jobs/" + id);
  CHECK(theirs.status == 404);
  CHECK(error_of(theirs)["code"] == error_of(unknown)["code"]);
  CHECK(error_of(theirs)["message"] == "no job " + id + " (unknown, or its results expired)");
  CHECK(s.as("key-two", "DELETE", "/api/v1/jobs/" + id).status == 404);
  CHECK(s.as("key-two", "GET", "/api/v1/jobs/" + id + "/events").status == 404);
  CHECK_FALSE(s.gateway.was_cancelled(id));
  CHECK(s.as("key-one", "GET", "/api/v1/jobs/" + id).status == 200);
  s.gateway.complete(id);
  // Nor can another key forget a finished one.
  CHECK(s.as("key-two", "DELETE", "/api/v1/jobs/" + id).status == 404);
  CHECK(s.as("key-one", "GET", "/api/v1/jobs/" + id).status == 200);
  CHECK(s.as("key-one", "DELETE", "/api/v1/jobs/" + id).status == 204);
}

TEST_CASE("without API keys every job of the gateway is listed", "[jobs][list][server]") {
  keyed_server s(/*with_keys=*/false);
  const std::string first = s.create("");
  const std::string second = s.create("key-one");  // a key sent to an open server means nothing
  CHECK(ids_of(s.list("")) == std::vector<std::string>{second, first});
  CHECK(s.as("", "GET", "/api/v1/jobs/" + second).status == 200);
}

TEST_CASE("GET /api/v1/jobs refuses bad limits, statuses and unknown parameters",
          "[jobs][list][server]") {
  keyed_server s;
  auto refused = [&](const std::string& query, const std::string& field) {
    auto response = s.as("key-one", "GET", "/api/v1/jobs" + query);
    CHECK(response.status == 400);
    json error = error_of(response);
    CHECK(error["code"] == "invalid_request");
    CHECK(error["field"] == field);
    return error["message"].get<std::string>();
  };
  CHECK_THAT(refused("?limit=0", "limit"), Catch::Contains("limit must be an integer in 1..1000"));
  CHECK_THAT(refused("?limit=1001", "limit"), Catch::Contains("got \"1001\""));
  refused("?limit=-1", "limit");
  refused("?limit=ten", "limit");
  refused("?limit=", "limit");
  refused("?limit=99999999999999999999", "limit");
  CHECK_THAT(refused("?status=finished", "status"),
             Catch::Contains("status must be one of queued, running, done, failed, cancelled"));
  CHECK_THAT(refused("?stauts=done", "stauts"), Catch::Contains("did you mean 'status'?"));
  CHECK_THAT(refused("?limit=1&limit=2", "limit"), Catch::Contains("given twice"));
  refused("?verbose", "verbose");
  CHECK(s.as("key-one", "GET", "/api/v1/jobs?limit=1000").status == 200);
  CHECK(s.as("key-one", "GET", "/api/v1/jobs?status=cancelled").status == 200);
}
