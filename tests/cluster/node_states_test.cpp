// The supervisor's view of each GPU node with real processes: a node killed with SIGKILL shows as
// unreachable in /api/v1/stats and actor-stats, and when it is started again the supervisor's
// probe finds it and places a worker there at once, far sooner than the node's backoff (which
// has grown to 16 s by then) would have tried it.

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <mutex>

#include "cluster_harness.hpp"

using muse::testing::actor_stats;
using muse::testing::closed_loop_load;
using muse::testing::cluster;
using muse::testing::eventually;
using muse::testing::free_port;
using muse::testing::http_request;
using muse::testing::ready_on;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json one_slot_per_node_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "request_timeout_s": 30},
    "model": {"scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32, "height": 32,
              "intra_op_threads": 1},
    "batching": {"max_batch_size": 2, "max_wait_ms": 10, "max_queue": 500},
    "cluster": {"heartbeat_ms": 200, "node_timeout_ms": 1000},
    "autoscale": {"min_workers": 2, "max_workers": 2, "interval_s": 1}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["gateway"]["cluster_port"] = free_port();
  for (std::string name : {"node-a", "node-b"})
    config["gpu_nodes"].push_back({{"name", name},
                                   {"host", "127.0.0.1"},
                                   {"port", free_port()},
                                   {"devices", {"cpu"}},
                                   {"slots_per_device", 1}});
  return config;
}

json node_in(const json& stats, const std::string& name) {
  for (auto& node : stats.value("nodes", json::array()))
    if (node.value("name", "") == name) return node;
  return json::object();
}

}  // namespace

TEST_CASE("a GPU node killed and restarted: unreachable, then up with a worker within seconds",
          "[cluster][faults][nodes]") {
  cluster c(one_slot_per_node_config());
  c.start_node("node-a");
  auto& doomed = c.start_node("node-b");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually(
      [&] {
        auto s = c.stats();
        return ready_on(s, "node-a") == 1 && ready_on(s, "node-b") == 1 &&
               node_in(s, "node-b").value("state", "") == "up";
      },
      60s, 50ms));
  CHECK(node_in(c.stats(), "node-a")["workers"] == 1);

  std::map<long, int> statuses;
  {
    closed_loop_load clients(4, [&c](int seed) {
      json body = {{"prompt", "a green ring"}, {"seed", seed}, {"quality", "fast"}};
      return http_request("POST", c.url("/api/v1/generate"), body.dump(), {}, 40).status;
    });
    std::this_thread::sleep_for(1000ms);
    doomed.kill_hard();
    json down;
    CHECK(eventually(
        [&] {
          down = node_in(c.stats(), "node-b");
          return down.value("state", "") == "unreachable";
        },
        10s, 50ms));
    INFO(down.dump());
    CHECK(down["workers"] == 0);
    CHECK(down["since_s"].get<double>() > 0);
    CHECK(down["retry_at_s"].get<double>() >= down["since_s"].get<double>());
    CHECK(node_in(c.stats(), "node-a").value("state", "") == "up");
    auto text = actor_stats(c);
    INFO(text);
    CHECK(text.find("node node-b  unreachable for ") != std::string::npos);
    CHECK(text.find("node node-a  up for ") != std::string::npos);
    // Placement retrying a dead node every backoff would try it 0.5, 1.5, 3.5, 7.5, 15.5 and
    // 31.5 s after its death: restarted after 16 s, it would wait until then for a worker.
    std::this_thread::sleep_for(16s);
    CHECK(node_in(c.stats(), "node-b").value("state", "") == "unreachable");
    c.start_node("node-b");
    auto restarted = std::chrono::steady_clock::now();
    CHECK(eventually(
        [&] {
          auto s = c.stats();
          auto node = node_in(s, "node-b");
          return node.value("state", "") == "up" && node.value("workers", 0) == 1 &&
                 ready_on(s, "node-b") == 1;
        },
        6s, 50ms));
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted);
    INFO("node-b up with a ready worker " << seconds.count() << " s after its restart");
    std::this_thread::sleep_for(1000ms);
    statuses = clients.finish();
  }
  // No request lost: every one answered with images.
  CHECK(statuses.size() == 1);
  CHECK(statuses[200] > 4);
  CHECK(eventually([&] { return c.stats()["orders"]["open"] == 0; }, 10s, 50ms));
  CHECK(c.gateway().log().find("node node-b answers again") != std::string::npos);
}
