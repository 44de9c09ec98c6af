#include "http/jobs.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "frontend_server.hpp"
#include "http/base64.hpp"

using muse::http::job_status;
using muse::http::job_store;
using muse::testing::frontend_server;
using muse::testing::http_request;
using muse::testing::sse_reader;
using nlohmann::json;

namespace {

muse::actors::generate_outcome images_outcome(const std::string& id, int steps) {
  muse::actors::generate_outcome outcome;
  outcome.id = id;
  outcome.steps = steps;
  outcome.images.push_back({"png", 7});
  return outcome;
}

}  // namespace

TEST_CASE("a job waiting for its model to load says so until its first step", "[jobs][models]") {
  job_store jobs(std::chrono::seconds(60), 10);
  REQUIRE(jobs.create("a", 25, "loading model"));
  CHECK(jobs.find("a")->to_json(false)["progress"]["waiting_for"] == "loading model");
  jobs.progress("a", {1, 25, {}});
  CHECK_FALSE(jobs.find("a")->to_json(false)["progress"].contains("waiting_for"));
  REQUIRE(jobs.create("b", 25));
  CHECK_FALSE(jobs.find("b")->to_json(false)["progress"].contains("waiting_for"));
}

TEST_CASE("a job goes queued, running, done and tells its listeners", "[jobs]") {
  job_store jobs(std::chrono::seconds(60), 10);
  REQUIRE(jobs.create("a", 25));
  std::vector<std::string> seen;
  REQUIRE(jobs.subscribe("a", [&](const muse::http::job_snapshot& s) {
    seen.push_back(std::string(to_string(s.status)) + ":" + std::to_string(s.step));
  }));
  jobs.progress("a", {3, 25, {}});
  jobs.progress("a", {2, 25, {}});  // a slower sample of the same order: progress never goes back
  jobs.finish("a", images_outcome("a", 25));
  jobs.progress("a", {4, 25, {}});  // late: ignored
  CHECK(seen == std::vector<std::string>{"queued:0", "running:3", "done:25"});
  auto job = jobs.find("a");
  REQUIRE(job);
  CHECK(job->status == job_status::done);
  json shown = job->to_json(true);
  CHECK(shown["images"][0]["seed"] == 7);
  CHECK(shown["images"][0]["png_base64"] == muse::http::base64_encode("png"));
  CHECK_FALSE(job->to_json(false)["images"][0].contains("png_base64"));
  CHECK_FALSE(jobs.subscribe("missing", [](const muse::http::job_snapshot&) {}));
}

TEST_CASE("queued jobs know their place and hear when it moves up", "[jobs]") {
  job_store jobs(std::chrono::seconds(60), 10);
  REQUIRE(jobs.create("a", 5));
  REQUIRE(jobs.create("b", 5));
  REQUIRE(jobs.create("c", 5));
  CHECK(jobs.find("a")->queue_position == 1);
  CHECK(jobs.find("c")->queue_position == 3);
  CHECK(jobs.find("c")->to_json(false)["queue_position"] == 3);
  std::vector<int> seen_by_c;
  REQUIRE(jobs.subscribe(
      "c", [&](const muse::http::job_snapshot& s) { seen_by_c.push_back(s.queue_position); }));
  jobs.progress("a", {1, 5, {}});  // a runs: b and c move up
  CHECK(jobs.find("a")->queue_position == 0);
  CHECK_FALSE(jobs.find("a")->to_json(false).contains("queue_position"));
  CHECK(jobs.find("b")->queue_position == 1);
  jobs.progress("a", {2, 5, {}});  // nothing left the queue: c hears nothing
  muse::actors::generate_outcome cancelled;
  cancelled.id = "b";
  cancelled.error = muse::actors::failure::cancelled;
  jobs.finish("b", cancelled);  // b leaves the queue without running
  CHECK(seen_by_c == std::vector<int>{3, 2, 1});
  CHECK(jobs.find("c")->queue_position == 1);
}

TEST_CASE("failed and cancelled jobs keep their error; finished jobs expire", "[jobs]") {
  job_store jobs(std::chrono::seconds(0), 10);
  REQUIRE(jobs.create("f", 5));
  REQUIRE(jobs.create("c", 5));
  muse::actors::generate_outcome failed;
  failed.id = "f";
  failed.error = muse::actors::failure::queue_full;
  failed.message = "full";
  jobs.finish("f", failed);
  muse::actors::generate_outcome cancelled;
  cancelled.error = muse::actors::failure::cancelled;
  std::optional<muse::http::job_snapshot> last;
  jobs.subscribe("c", [&](const muse::http::job_snapshot& s) { last = s; });
  jobs.finish("c", cancelled);
  REQUIRE(last);
  CHECK(last->status == job_status::cancelled);
  CHECK(last->error->code == "cancelled");
  // Retention zero: gone at the next look.
  CHECK_FALSE(jobs.find("f"));
  CHECK(jobs.size() == 0);
}

TEST_CASE("the store makes room by dropping the oldest finished job, never an unfinished one",
          "[jobs]") {
  job_store jobs(std::chrono::seconds(60), 2);
  REQUIRE(jobs.create("a", 1));
  REQUIRE(jobs.create("b", 1));
  CHECK_FALSE(jobs.create("c", 1));
  jobs.finish("a", images_outcome("a", 1));
  REQUIRE(jobs.create("c", 1));
  CHECK_FALSE(jobs.find("a"));
  CHECK(jobs.find("b"));
  CHECK_FALSE(jobs.forget("b"));  // unfinished
}

TEST_CASE("POST /api/v1/jobs answers 202 and the job is polled to its images", "[jobs][server]") {
  frontend_server s;
  auto created = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "a cat", "seed": 5})");
  REQUIRE(created.status == 202);
  json body = json::parse(created.body);
  const std::string id = body["id"];
  CHECK(body["status"] == "queued");
  CHECK(body["progress"]["total"] == 25);
  CHECK(body["urls"]["events"] == "/api/v1/jobs/" + id + "/events");
  CHECK(created.headers["location"] == "/api/v1/jobs/" + id);
  REQUIRE(s.gateway.wait_submitted(1) == id);

  CHECK(json::parse(http_request("GET", s.url("/api/v1/jobs/" + id)).body)["status"] == "queued");
  s.gateway.progress(id, 3, 25);
  json running = json::parse(http_request("GET", s.url("/api/v1/jobs/" + id)).body);
  CHECK(running["status"] == "running");
  CHECK(running["progress"] == json{{"step", 3}, {"total", 25}});

  s.gateway.complete(id);
  auto done = http_request("GET", s.url("/api/v1/jobs/" + id));
  REQUIRE(done.status == 200);
  json finished = json::parse(done.body);
  CHECK(finished["status"] == "done");
  REQUIRE(finished["images"].size() == 1);
  CHECK(finished["images"][0]["seed"] == 5);
  CHECK(finished["images"][0]["png_base64"] ==
        muse::http::base64_encode(muse::testing::fake_gateway::fake_png(5)));
}

TEST_CASE("job creation validates like /api/v1/generate; unknown jobs are 404", "[jobs][server]") {
  frontend_server s;
  auto bad = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "x", "steps": 0})");
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["field"] == "steps");
  CHECK(http_request("POST", s.url("/api/v1/jobs"), "[1]").status == 400);
  CHECK(http_request("GET", s.url("/api/v1/jobs/nope")).status == 404);
  CHECK(http_request("DELETE", s.url("/api/v1/jobs/nope")).status == 404);
  CHECK(http_request("GET", s.url("/api/v1/jobs/nope/events")).status == 404);
  CHECK(s.gateway.held_count() == 0);
}

TEST_CASE("job events stream the status, each step, and the result", "[jobs][server][sse]") {
  frontend_server s;
  auto created = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "a cat", "seed": 9})");
  const std::string id = json::parse(created.body)["id"];
  s.gateway.wait_submitted(1);
  sse_reader events(s.url("/api/v1/jobs/" + id + "/events"));
  REQUIRE(events.wait_for("event: status\ndata: "));
  CHECK(events.text().find("\"queued\"") != std::string::npos);
  s.gateway.progress(id, 1, 25);
  REQUIRE(events.wait_for("event: progress\ndata: {\"step\":1,\"total\":25}\n\n"));
  s.gateway.progress(id, 2, 25);
  REQUIRE(events.wait_for("event: progress\ndata: {\"step\":2,\"total\":25}\n\n"));
  s.gateway.complete(id);
  REQUIRE(events.wait_ended());
  CHECK(events.status() == 200);
  CHECK(events.content_type() == "text/event-stream");
  std::string text = events.text();
  auto at = text.find("event: done\ndata: ");
  REQUIRE(at != std::string::npos);
  json result = json::parse(text.substr(at + 18, text.find('\n', at + 18) - at - 18));
  CHECK(result["images"][0]["seed"] == 9);
  CHECK(result["images"][0].contains("png_base64"));

  // A finished job's events are its result, and the stream ends.
  sse_reader again(s.url("/api/v1/jobs/" + id + "/events"));
  REQUIRE(again.wait_ended());
  CHECK(again.text().rfind("event: done\n", 0) == 0);
}

TEST_CASE("DELETE cancels a running job; the events end with cancelled", "[jobs][server][sse]") {
  frontend_server s;
  auto created = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "a cat"})");
  const std::string id = json::parse(created.body)["id"];
  s.gateway.wait_submitted(1);
  sse_reader events(s.url("/api/v1/jobs/" + id + "/events"));
  REQUIRE(events.wait_for("event: status"));
  s.gateway.progress(id, 4, 25);
  auto cancelled = http_request("DELETE", s.url("/api/v1/jobs/" + id));
  CHECK(cancelled.status == 202);
  CHECK(s.gateway.was_cancelled(id));
  CHECK(json::parse(cancelled.body)["status"] == "cancelled");
  REQUIRE(events.wait_ended());
  CHECK(events.text().find("event: cancelled\n") != std::string::npos);
  json job = json::parse(http_request("GET", s.url("/api/v1/jobs/" + id)).body);
  CHECK(job["status"] == "cancelled");
  CHECK(job["error"]["code"] == "cancelled");
  // A second DELETE of the finished job removes it.
  CHECK(http_request("DELETE", s.url("/api/v1/jobs/" + id)).status == 204);
  CHECK(http_request("GET", s.url("/api/v1/jobs/" + id)).status == 404);
}

TEST_CASE("a finished job is gone after gateway.job_retention_s", "[jobs][server]") {
  auto config = muse::testing::frontend_config();
  config.gateway.job_retention_s = 1;
  frontend_server s(config);
  auto created = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "a cat"})");
  const std::string id = json::parse(created.body)["id"];
  s.gateway.wait_submitted(1);
  s.gateway.complete(id, muse::actors::failure::timeout);
  json failed = json::parse(http_request("GET", s.url("/api/v1/jobs/" + id)).body);
  CHECK(failed["status"] == "failed");
  CHECK(failed["error"]["code"] == "timeout");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(http_request("GET", s.url("/api/v1/jobs/" + id)).status == 404);
}

TEST_CASE("a job asked for previews streams each image's latest with its progress",
          "[jobs][server][sse][preview]") {
  frontend_server s;
  auto created = http_request("POST", s.url("/api/v1/jobs"),
                              R"({"prompt": "a cat", "n": 2, "steps": 25, "previews": true})");
  REQUIRE(created.status == 202);
  const std::string id = json::parse(created.body)["id"];
  s.gateway.wait_submitted(1);
  const auto order = s.gateway.submitted().at(0);
  REQUIRE(order.samples.size() == 2);
  CHECK(order.samples[0].preview_every == 3);  // about ten previews of 25 steps
  CHECK(order.samples[1].preview_every == 3);

  sse_reader events(s.url("/api/v1/jobs/" + id + "/events"));
  REQUIRE(events.wait_for("event: status\ndata: "));
  s.gateway.progress(id, 3, 25, {"png-a", ""});
  const std::string first = "data:image/png;base64," + muse::http::base64_encode("png-a");
  REQUIRE(events.wait_for("event: progress\ndata: " +
                          json{{"step", 3}, {"total", 25}, {"previews", {first, nullptr}}}.dump() +
                          "\n\n"));
  // The other image's preview at the same step is news too.
  s.gateway.progress(id, 3, 25, {"png-a", "png-b"});
  const std::string second = "data:image/png;base64," + muse::http::base64_encode("png-b");
  REQUIRE(events.wait_for(json{{"step", 3}, {"total", 25}, {"previews", {first, second}}}.dump()));
  // A step without a new preview carries none; GET still shows the latest.
  s.gateway.progress(id, 4, 25);
  REQUIRE(events.wait_for("event: progress\ndata: {\"step\":4,\"total\":25}\n\n"));
  json running = json::parse(http_request("GET", s.url("/api/v1/jobs/" + id)).body);
  CHECK(running["previews"] == json{first, second});

  s.gateway.complete(id);
  REQUIRE(events.wait_ended());
  json done = json::parse(http_request("GET", s.url("/api/v1/jobs/" + id)).body);
  CHECK(done["status"] == "done");
  CHECK_FALSE(done.contains("previews"));
}

TEST_CASE("previews are a job's: refused on /api/v1/generate, and only true or false",
          "[jobs][server][preview]") {
  frontend_server s;
  auto sync =
      http_request("POST", s.url("/api/v1/generate"), R"({"prompt": "x", "previews": true})");
  CHECK(sync.status == 400);
  CHECK(json::parse(sync.body)["error"]["field"] == "previews");
  auto bad = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "x", "previews": "yes"})");
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["field"] == "previews");
  auto plain = http_request("POST", s.url("/api/v1/jobs"), R"({"prompt": "x", "previews": false})");
  REQUIRE(plain.status == 202);
  s.gateway.wait_submitted(1);
  CHECK(s.gateway.submitted().at(0).samples.at(0).preview_every == 0);
}
