// A gateway and two GPU nodes as real processes on loopback, serving the tiny test pipeline.

#include <signal.h>

#include <catch2/catch.hpp>
#include <future>
#include <set>

#include "cluster_harness.hpp"

using muse::testing::actor_stats;
using muse::testing::cluster;
using muse::testing::eventually;
using muse::testing::free_port;
using muse::testing::http_request;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json two_node_config(int min_workers, int max_workers) {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "request_timeout_s": 60},
    "model": {"scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32, "height": 32,
              "intra_op_threads": 1},
    "batching": {"max_batch_size": 2, "max_wait_ms": 20, "max_queue": 200},
    "cluster": {"heartbeat_ms": 200, "node_timeout_ms": 1000}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["gateway"]["cluster_port"] = free_port();
  for (std::string name : {"node-a", "node-b"})
    config["gpu_nodes"].push_back({{"name", name},
                                   {"host", "127.0.0.1"},
                                   {"port", free_port()},
                                   {"devices", {"cpu"}},
                                   {"slots_per_device", 1}});
  config["autoscale"] = {{"min_workers", min_workers}, {"max_workers", max_workers}};
  return config;
}

int generate(const cluster& c, int seed) {
  json body = {{"prompt", "a red square"}, {"seed", seed}, {"quality", "fast"}};
  return int(http_request("POST", c.url("/api/v1/generate"), body.dump()).status);
}

// The nodes whose workers have produced images so far.
std::set<std::string> nodes_with_images(const json& stats) {
  std::set<std::string> nodes;
  if (!stats.contains("workers")) return nodes;
  for (auto& w : stats["workers"]["list"])
    if (w.value("images_done", 0) > 0) nodes.insert(w["node"].get<std::string>());
  return nodes;
}

}  // namespace

TEST_CASE("requests are served by workers on both GPU nodes", "[cluster]") {
  cluster c(two_node_config(2, 2));
  c.start_node("node-a");
  c.start_node("node-b");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 2; }, 60s, 50ms));
  std::vector<std::future<int>> answers;
  for (int i = 0; i < 12; ++i)
    answers.push_back(std::async(std::launch::async, [&c, i] { return generate(c, i); }));
  for (auto& a : answers) CHECK(a.get() == 200);
  CHECK(nodes_with_images(c.stats()) == std::set<std::string>{"node-a", "node-b"});

  // actor-stats sees the same cluster, per node and per actor.
  auto view = json::parse(actor_stats(c, "--json"));
  CHECK(view["nodes"].contains("node-a"));
  CHECK(view["nodes"].contains("node-b"));
  CHECK(view["workers"]["ready"] == 2);
  CHECK(view["gateway"]["balancer"]["batches_done"].get<double>() > 0);
  CHECK(view["gateway"]["latency_ms"]["total"]["p50"].get<double>() > 0);
  auto text = actor_stats(c, "");
  CHECK(text.find("node node-a") != std::string::npos);
  CHECK(text.find("node node-b") != std::string::npos);
  CHECK(text.find("scaling decisions") != std::string::npos);
}

TEST_CASE("a GPU node started after the gateway joins and gets work", "[cluster]") {
  cluster c(two_node_config(2, 2));
  c.start_node("node-a");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 1; }, 60s, 50ms));
  CHECK(generate(c, 1) == 200);
  c.start_node("node-b");
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 2; }, 60s, 50ms));
  std::vector<std::future<int>> answers;
  for (int i = 0; i < 12; ++i)
    answers.push_back(std::async(std::launch::async, [&c, i] { return generate(c, i); }));
  for (auto& a : answers) CHECK(a.get() == 200);
  CHECK(nodes_with_images(c.stats()).count("node-b") == 1);
}

TEST_CASE("SIGTERM on a GPU node drains it and it exits 0", "[cluster]") {
  cluster c(two_node_config(1, 1));
  auto& node = c.start_node("node-a");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 1; }, 60s, 50ms));
  auto answer = std::async(std::launch::async, [&c] { return generate(c, 7); });
  std::this_thread::sleep_for(100ms);
  CHECK(node.stop(SIGTERM, 30s) == 0);
  CHECK(answer.get() == 200);
}
