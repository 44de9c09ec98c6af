// Several gateways over one pool, with real processes on loopback: two gateways (gw-1 leads)
// and two GPU nodes on the tiny pipeline. The leader counts a follower's load; kill -9 of the
// leader under load on both loses none of the other gateway's requests, the workers keep running
// (none restarted), the other gateway takes the lead and goes on deciding, and the killed gateway,
// started again, rejoins as a follower. kill -9 of a GPU node under load on both gateways loses
// none of either's requests, and both use the worker started again on the other node.

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster_harness.hpp"

using muse::testing::closed_loop_load;
using muse::testing::cluster;
using muse::testing::eventually;
using muse::testing::free_port;
using muse::testing::generate;
using muse::testing::http_request;
using muse::testing::stats_of;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json two_gateway_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "request_timeout_s": 20},
    "model": {"scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32, "height": 32,
              "intra_op_threads": 1},
    "batching": {"max_batch_size": 2, "max_wait_ms": 10, "max_queue": 500},
    "autoscale": {"min_workers": 2, "max_workers": 2, "interval_s": 1},
    "cluster": {"heartbeat_ms": 200, "node_timeout_ms": 1000}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["gateway"]["cluster_port"] = free_port();
  for (std::string name : {"gw-1", "gw-2"})
    config["gateways"].push_back(
        {{"name", name}, {"host", "127.0.0.1"}, {"cluster_port", free_port()}});
  for (std::string name : {"node-a", "node-b"})
    config["gpu_nodes"].push_back({{"name", name},
                                   {"host", "127.0.0.1"},
                                   {"port", free_port()},
                                   {"devices", {"cpu"}},
                                   {"slots_per_device", 1}});
  return config;
}

// Worker id -> balancer registrations ("starts"), for the ready workers a gateway uses.
std::map<std::string, int> ready_workers(const json& stats) {
  std::map<std::string, int> ready;
  if (!stats.contains("workers")) return ready;
  for (auto& w : stats["workers"]["list"])
    if (w["state"] == "ready") ready[w["id"].get<std::string>()] = w["starts"].get<int>();
  return ready;
}

size_t decisions(const json& stats) {
  if (!stats.contains("scaling")) return 0;
  return stats["scaling"]["decisions"].size();
}

}  // namespace

TEST_CASE("two gateways share one pool; kill -9 of the leader loses none of the other's requests",
          "[cluster][gateways]") {
  cluster c(two_gateway_config());
  auto& node_a = c.start_node("node-a");
  auto& node_b = c.start_node("node-b");
  auto* leader = &c.start_gateway("gw-1");
  auto& follower = c.start_gateway("gw-2");
  INFO(c.logs());

  // Both gateways use the leader's two workers.
  REQUIRE(eventually([&] { return ready_workers(stats_of(*leader)).size() == 2; }, 60s, 50ms));
  REQUIRE(eventually([&] { return ready_workers(stats_of(follower)).size() == 2; }, 30s, 50ms));
  CHECK(decisions(stats_of(follower)) == 0);  // the follower runs no supervisor

  // Load on the follower alone reaches the leader's scaling inputs.
  {
    closed_loop_load follower_clients(
        3, [&g = follower](int seed) { return generate(g, seed); }, 1);
    CHECK(eventually(
        [&] {
          auto stats = stats_of(*leader);
          if (!stats.contains("scaling")) return false;
          for (auto& d : stats["scaling"]["decisions"]) {
            auto& in = d["inputs"];
            if (in["arrivals_per_s"].get<double>() > 0 || in["in_flight"].get<double>() > 0)
              return true;
          }
          return false;
        },
        10s, 50ms));
  }

  auto pool_before = ready_workers(stats_of(follower));
  std::map<long, int> follower_statuses;
  {
    closed_loop_load follower_clients(
        3, [&g = follower](int seed) { return generate(g, seed); }, 500000);
    closed_loop_load leader_clients(
        2, [&g = *leader](int seed) { return generate(g, seed); }, 900000);
    std::this_thread::sleep_for(1500ms);
    leader->kill_hard();
    std::this_thread::sleep_for(500ms);
    leader_clients.finish();  // the dead gateway's clients would retry elsewhere
    // The follower takes the lead: its supervisor decides from now on.
    CHECK(eventually([&] { return decisions(stats_of(follower)) >= 2; }, 10s, 50ms));
    std::this_thread::sleep_for(2s);
    follower_statuses = follower_clients.finish();
  }
  int answered = 0;
  for (auto& [status, count] : follower_statuses) {
    INFO("status " << status << ": " << count);
    CHECK(status == 200);
    answered += count;
  }
  CHECK(answered > 6);
  CHECK(eventually([&] { return stats_of(follower)["orders"]["open"] == 0; }, 10s, 50ms));
  // The pool kept its workers: the same ones, none registered again (none restarted).
  CHECK(ready_workers(stats_of(follower)) == pool_before);
  CHECK(node_a.log().find("exited") == std::string::npos);
  CHECK(node_b.log().find("exited") == std::string::npos);

  // Started again, the killed gateway follows the new leader and serves with the same pool.
  leader = &c.start_gateway("gw-1");
  CHECK(eventually([&] { return ready_workers(stats_of(*leader)).size() == 2; }, 30s, 50ms));
  CHECK(generate(*leader, 4242) == 200);
  CHECK(generate(follower, 4243) == 200);
  CHECK(decisions(stats_of(*leader)) == 0);
  auto decided = decisions(stats_of(follower));
  CHECK(eventually([&] { return decisions(stats_of(follower)) > decided; }, 5s, 50ms));
  CHECK(ready_workers(stats_of(follower)) == pool_before);
}

TEST_CASE("two gateways share one pool; kill -9 of a GPU node loses none of either's requests",
          "[cluster][gateways]") {
  auto config = two_gateway_config();
  for (auto& node : config["gpu_nodes"]) node["slots_per_device"] = 2;
  cluster c(config);
  c.start_node("node-a");
  auto& doomed = c.start_node("node-b");
  auto& leader = c.start_gateway("gw-1");
  auto& follower = c.start_gateway("gw-2");
  INFO(c.logs());
  auto on_node = [](const json& stats, const std::string& node) {
    int count = 0;
    if (!stats.contains("workers")) return 0;
    for (auto& w : stats["workers"]["list"])
      if (w["node"] == node && w["state"] == "ready") ++count;
    return count;
  };
  REQUIRE(eventually(
      [&] {
        auto s = stats_of(follower);
        return on_node(s, "node-a") == 1 && on_node(s, "node-b") == 1;
      },
      60s, 50ms));

  std::map<long, int> leader_statuses, follower_statuses;
  {
    closed_loop_load leader_clients(
        2, [&g = leader](int seed) { return generate(g, seed); }, 1);
    closed_loop_load follower_clients(
        2, [&g = follower](int seed) { return generate(g, seed); }, 500000);
    std::this_thread::sleep_for(1500ms);
    doomed.kill_hard();
    // The leader starts the lost worker again on node-a, and the follower uses it too.
    CHECK(eventually([&] { return on_node(stats_of(leader), "node-a") == 2; }, 30s, 50ms));
    CHECK(eventually([&] { return on_node(stats_of(follower), "node-a") == 2; }, 10s, 50ms));
    std::this_thread::sleep_for(2000ms);
    leader_statuses = leader_clients.finish();
    follower_statuses = follower_clients.finish();
  }
  for (auto* statuses : {&leader_statuses, &follower_statuses}) {
    int answered = 0;
    for (auto& [status, count] : *statuses) {
      INFO("status " << status << ": " << count);
      CHECK(status == 200);
      answered += count;
    }
    CHECK(answered >= 4);  // two answers per client at least
  }
  CHECK(eventually([&] { return stats_of(leader)["orders"]["open"] == 0; }, 10s, 50ms));
  CHECK(eventually([&] { return stats_of(follower)["orders"]["open"] == 0; }, 10s, 50ms));
}

TEST_CASE("load on a follower alone scales the pool up, and idle shrinks it back",
          "[cluster][gateways][scaling]") {
  auto config = two_gateway_config();
  for (auto& node : config["gpu_nodes"]) node["slots_per_device"] = 2;
  config["autoscale"] = {
      {"min_workers", 1}, {"max_workers", 3}, {"interval_s", 1}, {"scale_down_after", 2}};
  cluster c(config);
  c.start_node("node-a");
  c.start_node("node-b");
  auto& leader = c.start_gateway("gw-1");
  auto& follower = c.start_gateway("gw-2");
  INFO(c.logs());
  REQUIRE(eventually([&] { return ready_workers(stats_of(follower)).size() == 1; }, 60s, 50ms));
  auto actions = [&] {
    std::set<std::string> seen;
    auto stats = stats_of(leader);
    if (stats.contains("scaling"))
      for (auto& d : stats["scaling"]["decisions"]) seen.insert(d["action"].get<std::string>());
    return seen;
  };
  std::map<long, int> statuses;
  {
    closed_loop_load clients(
        6, [&g = follower](int seed) { return generate(g, seed); }, 1);
    // The leader sees only the follower's load, and the follower uses the workers it adds.
    CHECK(eventually([&] { return ready_workers(stats_of(follower)).size() >= 2; }, 40s, 50ms));
    CHECK(eventually([&] { return actions().count("up") == 1; }, 10s, 50ms));
    statuses = clients.finish();
  }
  CHECK(statuses.size() == 1);
  CHECK(statuses.count(200) == 1);
  // Scale-down drains a worker on both gateways' balancers; the follower ends with one worker.
  CHECK(eventually([&] { return actions().count("down") == 1; }, 40s, 50ms));
  CHECK(eventually(
      [&] {
        auto stats = stats_of(follower);
        int active = 0;
        for (auto& w : stats["workers"]["list"])
          if (w["state"] == "ready" || w["state"] == "loading" || w["state"] == "draining")
            ++active;
        return active == 1;
      },
      40s, 50ms));
  CHECK(generate(follower, 99) == 200);
}
