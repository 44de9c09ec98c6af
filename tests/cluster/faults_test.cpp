// Faults and scaling with real processes: a GPU node killed with SIGKILL under load, and the
// worker count following sustained load up and back down.

#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <set>

#include "cluster_harness.hpp"

using muse::testing::closed_loop_load;
using muse::testing::cluster;
using muse::testing::eventually;
using muse::testing::free_port;
using muse::testing::generate;
using muse::testing::http_request;
using muse::testing::ready_on;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json cluster_config(int slots_per_node, int min_workers, int max_workers) {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "request_timeout_s": 20},
    "model": {"scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32, "height": 32,
              "intra_op_threads": 1},
    "batching": {"max_batch_size": 2, "max_wait_ms": 10, "max_queue": 500},
    "cluster": {"heartbeat_ms": 200, "node_timeout_ms": 1000}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["gateway"]["cluster_port"] = free_port();
  for (std::string name : {"node-a", "node-b"})
    config["gpu_nodes"].push_back({{"name", name},
                                   {"host", "127.0.0.1"},
                                   {"port", free_port()},
                                   {"devices", {"cpu"}},
                                   {"slots_per_device", slots_per_node}});
  config["autoscale"] = {{"min_workers", min_workers},
                         {"max_workers", max_workers},
                         {"interval_s", 1},
                         {"scale_down_after", 2}};
  return config;
}

}  // namespace

TEST_CASE("kill -9 of a GPU node under load: every request answered, workers replaced",
          "[cluster][faults]") {
  cluster c(cluster_config(2, 2, 2));
  c.start_node("node-a");
  auto& doomed = c.start_node("node-b");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually(
      [&] {
        auto s = c.stats();
        return ready_on(s, "node-a") == 1 && ready_on(s, "node-b") == 1;
      },
      60s, 50ms));
  std::map<long, int> statuses;
  {
    closed_loop_load clients(4, [&c](int seed) { return generate(c.gateway(), seed); });
    std::this_thread::sleep_for(1500ms);
    doomed.kill_hard();
    // The lost worker comes back on the surviving node.
    CHECK(eventually([&] { return ready_on(c.stats(), "node-a") == 2; }, 30s, 50ms));
    std::this_thread::sleep_for(1000ms);
    statuses = clients.finish();
  }
  int answered = 0;
  for (auto& [status, count] : statuses) {
    INFO("status " << status);
    CHECK((status == 200 || status == 503 || status == 504));
    answered += count;
  }
  CHECK(statuses[200] > 0);
  CHECK(answered > 4);
  // Nothing left open: each request was answered exactly once.
  CHECK(eventually([&] { return c.stats()["orders"]["open"] == 0; }, 10s, 50ms));
  CHECK(generate(c.gateway(), 424242) == 200);
}

TEST_CASE("sustained load grows the worker count; idle shrinks it back to min_workers",
          "[cluster][scaling]") {
  cluster c(cluster_config(2, 1, 3));
  c.start_node("node-a");
  c.start_node("node-b");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 1; }, 60s, 50ms));
  std::map<long, int> statuses;
  std::set<std::string> actions;
  json decisions;
  auto note_actions = [&] {
    decisions = c.stats()["scaling"]["decisions"];
    for (auto& d : decisions) {
      actions.insert(d["action"].get<std::string>());
      CHECK(d["reason"].get<std::string>().size() > 0);
      CHECK(d["inputs"].contains("arrivals_per_s"));
    }
  };
  {
    closed_loop_load clients(6, [&c](int seed) { return generate(c.gateway(), seed); });
    CHECK(eventually([&] { return c.stats()["workers"]["ready"].get<int>() >= 2; }, 40s, 50ms));
    // A snapshot may time out on this busy machine: ask again.
    CHECK(eventually(
        [&] {
          note_actions();
          return actions.count("up") == 1;
        },
        10s, 50ms));
    INFO(decisions.dump());
    statuses = clients.finish();
  }
  CHECK(statuses.size() == 1);
  CHECK(statuses.count(200) == 1);
  CHECK(eventually(
      [&] {
        auto s = c.stats();
        int active = 0;
        for (auto& w : s["workers"]["list"])
          if (w["state"] == "ready" || w["state"] == "loading" || w["state"] == "draining")
            ++active;
        return active == 1;
      },
      40s, 50ms));
  // The drained workers left the list: none shows as dead, none counts in the total.
  CHECK(eventually(
      [&] {
        auto s = c.stats();
        return s["workers"]["total"] == 1 && s["workers"]["list"].size() == 1 &&
               s["workers"]["list"][0]["state"] == "ready";
      },
      10s, 50ms));
  CHECK(eventually(
      [&] {
        note_actions();
        return actions.count("down") == 1;
      },
      10s, 50ms));
  INFO(decisions.dump());
  CHECK(generate(c.gateway(), 99) == 200);
}

TEST_CASE("a GPU node that comes back after kill -9 gets workers again", "[cluster][faults]") {
  cluster c(cluster_config(1, 2, 2));
  c.start_node("node-a");
  auto& doomed = c.start_node("node-b");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 2; }, 60s, 50ms));
  doomed.kill_hard();
  // node-a has no free slot: the cluster runs on one worker meanwhile.
  REQUIRE(eventually([&] { return c.stats()["workers"]["ready"] == 1; }, 20s, 50ms));
  CHECK(generate(c.gateway(), 1) == 200);
  c.start_node("node-b");
  CHECK(eventually([&] { return ready_on(c.stats(), "node-b") == 1; }, 40s, 50ms));
  CHECK(generate(c.gateway(), 2) == 200);
}
