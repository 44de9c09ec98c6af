// Partitions with real processes: a GPU node stopped (SIGSTOP) until the gateway gives up on its
// worker, then resumed (SIGCONT), three times under load. The worker the gateway gave up on must
// stop, so that the node never holds more workers than its slots and no batch runs twice. And
// the gateway's half of that on its own: a spawn stops the node's workers the gateway no longer
// counts.

#include <signal.h>

#include <atomic>
#include <caf/io/all.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <regex>

#include "actors/cluster_links.hpp"
#include "actors/messages.hpp"
#include "actors/model_worker.hpp"
#include "actors/system_setup.hpp"
#include "cluster_config/config.hpp"
#include "cluster_harness.hpp"

using muse::testing::closed_loop_load;
using muse::testing::cluster;
using muse::testing::eventually;
using muse::testing::free_port;
using muse::testing::http_request;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Short heartbeat and node timeout: the gateway gives a silent node up after a second.
json partition_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "request_timeout_s": 30},
    "model": {"scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32, "height": 32,
              "intra_op_threads": 1},
    "batching": {"max_batch_size": 2, "max_wait_ms": 10, "max_queue": 500},
    "cluster": {"heartbeat_ms": 200, "node_timeout_ms": 1000},
    "autoscale": {"min_workers": 2, "max_workers": 2}
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

// Workers the gateway counts on `node` (any state but dead) and those of them ready.
int counted_on(const json& stats, const std::string& node, bool ready_only) {
  int count = 0;
  if (!stats.contains("workers")) return 0;
  for (auto& w : stats["workers"]["list"])
    if (w["node"] == node && w["state"] != "dead" && (!ready_only || w["state"] == "ready"))
      ++count;
  return count;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

// Every count the node logged, in order: the workers it holds, and those told to stop (they quit
// at their next step).
struct held_count {
  int workers = 0;
  int stopping = 0;
};
std::vector<held_count> held_counts(const std::string& log) {
  std::vector<held_count> counts;
  static const std::regex holds("holds ([0-9]+) workers, [0-9]+ slots(; ([0-9]+) stopping)?");
  for (std::sregex_iterator it(log.begin(), log.end(), holds), end; it != end; ++it)
    counts.push_back(
        held_count{std::stoi((*it)[1].str()), (*it)[3].matched ? std::stoi((*it)[3].str()) : 0});
  return counts;
}

}  // namespace

TEST_CASE("a stopped and resumed GPU node keeps no worker the gateway gave up on",
          "[cluster][faults][partition]") {
  constexpr int cycles = 3;
  cluster c(partition_config());
  c.start_node("node-a");
  auto& stopped = c.start_node("node-b");
  c.start_gateway();
  INFO(c.logs());
  REQUIRE(eventually(
      [&] {
        auto s = c.stats();
        return counted_on(s, "node-a", true) == 1 && counted_on(s, "node-b", true) == 1;
      },
      60s, 50ms));

  std::map<long, int> statuses;
  {
    closed_loop_load clients(3, [&c](int seed) {
      json body = {{"prompt", "a blue circle"}, {"seed", seed}, {"quality", "fast"}};
      return http_request("POST", c.url("/api/v1/generate"), body.dump(), {}, 60).status;
    });
    for (int cycle = 1; cycle <= cycles; ++cycle) {
      INFO("cycle " << cycle);
      stopped.signal(SIGSTOP);
      // Stopped until the gateway has given its worker up (node_timeout_ms, then the requeue).
      bool given_up =
          eventually([&] { return counted_on(c.stats(), "node-b", false) == 0; }, 15s, 50ms);
      stopped.signal(SIGCONT);
      REQUIRE(given_up);
      // The replacement loads on node-b (node-a has no free slot), and the old worker is gone.
      REQUIRE(eventually([&] { return counted_on(c.stats(), "node-b", true) == 1; }, 30s, 50ms));
      REQUIRE(eventually(
          [&] {
            auto held = held_counts(stopped.log());
            return !held.empty() && held.back().workers == 1;
          },
          10s, 50ms));
    }
    statuses = clients.finish();
  }
  auto log = stopped.log();
  INFO(log);
  // One model load at start and one per worker given up on: no worker beside its replacement.
  CHECK(occurrences(log, "ready: model") <= 1 + cycles);
  CHECK(occurrences(log, "loading model on") <= 1 + cycles);
  // At no time more workers than its one slot, but for one told to stop at its next step.
  for (auto& count : held_counts(log)) CHECK(count.workers - count.stopping <= 1);

  // Every request answered, with images: the batches of node-b were requeued, not lost.
  int answered = 0;
  for (auto& [status, count] : statuses) {
    INFO("status " << status << " x" << count);
    CHECK(status == 200);
    answered += count;
  }
  CHECK(answered > cycles);
  CHECK(eventually([&] { return c.stats()["orders"]["open"] == 0; }, 10s, 50ms));

  // At SIGTERM the node drains what it holds: its one worker.
  CHECK(stopped.stop(SIGTERM, 30s) == std::optional<int>(0));
  CHECK(stopped.log().find("draining 1 workers") != std::string::npos);
}

// The gateway's side without a partition to wait for: a test process plays the gateway, connects
// to a GPU node and remote_spawns workers there, each spawn naming the workers it still counts.
TEST_CASE("a spawn stops the workers on its node that the gateway no longer counts",
          "[cluster][partition]") {
  auto settings = partition_config();
  settings["gpu_nodes"][0]["slots_per_device"] = 2;
  cluster c(settings);
  auto& node = c.start_node("node-a");
  INFO(c.logs());
  auto config = muse::config::parse_config(settings.dump());
  caf::actor_system_config system_config;
  muse::actors::add_message_types(system_config);
  muse::actors::configure_actor_system(system_config, config.cluster);
  caf::actor_system system{system_config};
  auto node_id = muse::actors::connect_cluster_node(
      system, config.cluster, "127.0.0.1", settings["gpu_nodes"][0]["port"].get<uint16_t>());
  REQUIRE(node_id);
  // Loads the workers, so they serve it (and stop when it goes).
  caf::scoped_actor gateway{system};
  auto spawn = [&](const std::string& id, std::vector<uint64_t> peers) {
    auto options =
        muse::actors::make_worker_options(config, config.default_model(), id, "node-a", "cpu");
    options.node_peers = std::move(peers);
    auto worker = system.middleman().remote_spawn<muse::actors::worker_actor>(
        *node_id, "model_worker", caf::make_message(options), std::chrono::seconds(10));
    REQUIRE(worker);
    bool loaded = false;
    gateway->request(*worker, std::chrono::seconds(30), muse::actors::load_atom::value)
        .receive([&](muse::actors::worker_info&) { loaded = true; }, [&](caf::error&) {});
    REQUIRE(loaded);
    return *worker;
  };
  auto holds = [&](int workers) {
    auto held = held_counts(node.log());
    return !held.empty() && held.back().workers == workers && held.back().stopping == 0;
  };

  auto first = spawn("w1", {});
  auto second = spawn("w2", {first.id()});
  CHECK(eventually([&] { return holds(2); }, 10s, 50ms));
  CHECK(node.log().find("stopping worker") == std::string::npos);

  // The gateway no longer counts w1 (it gave it up): the next spawn there stops it.
  gateway->monitor(first);
  auto third = spawn("w3", {second.id()});
  bool first_stopped = false;
  gateway->receive([&](caf::down_msg& down) { first_stopped = down.source == first.address(); },
                   caf::after(std::chrono::seconds(10)) >> [] {});
  CHECK(first_stopped);
  CHECK(node.log().find("stopping worker w1") != std::string::npos);
  CHECK(node.log().find("stopping worker w2") == std::string::npos);
  CHECK(eventually([&] { return holds(2); }, 10s, 50ms));
}
