#include "actors/node_table.hpp"

#include <catch2/catch.hpp>

using namespace muse::actors;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> two_nodes{"gpu-1", "gpu-2"};

// A linked table where both nodes answered their first probe.
node_table linked_and_up(node_table::clock::time_point t0) {
  node_table table(two_nodes, true, t0, 1000ms);
  for (auto& name : two_nodes) table.placed(name, t0);
  return table;
}

}  // namespace

TEST_CASE("nodes of a cluster are unreachable until linked, tried at start, then probed",
          "[nodes]") {
  auto t0 = node_table::clock::now();
  node_table table(two_nodes, true, t0, 1000ms);
  CHECK(table.state("gpu-1", t0) == node_state::unreachable);
  CHECK(table.may_place("gpu-1", t0));  // never seen: tried, so the first workers spread
  CHECK(table.probes_due(t0).empty());  // placement tries them first
  table.place_failed("gpu-1", t0);
  table.place_failed("gpu-2", t0);
  CHECK(table.probes_due(t0) == two_nodes);
  CHECK(table.probes_due(t0).empty());  // both are being probed
  CHECK(table.probe_answered("gpu-1", t0 + 10ms));
  CHECK(table.probe_failed("gpu-2", t0 + 10ms));  // the first failure: worth a log line
  CHECK(table.state("gpu-1", t0 + 10ms) == node_state::up);
  CHECK(table.may_place("gpu-1", t0 + 10ms));
  CHECK(table.state("gpu-2", t0 + 10ms) == node_state::unreachable);
  CHECK_FALSE(table.may_place("gpu-2", t0 + 10ms));  // seen unreachable: probed, not tried
  // The failed one is probed again one period later, not before.
  CHECK(table.probes_due(t0 + 500ms).empty());
  CHECK(table.probes_due(t0 + 1010ms) == std::vector<std::string>{"gpu-2"});
  CHECK_FALSE(table.probe_failed("gpu-2", t0 + 1020ms));  // the same outage: no second line
}

TEST_CASE("nodes in this process are up from the start and never probed", "[nodes]") {
  auto t0 = node_table::clock::now();
  node_table table({"local"}, false, t0, 1000ms);
  CHECK(table.state("local", t0) == node_state::up);
  CHECK(table.may_place("local", t0));
  table.place_failed("local", t0);
  CHECK(table.probes_due(t0 + 1h).empty());
  CHECK(table.state("local", t0) == node_state::backoff);
  CHECK(table.may_place("local", t0 + 500ms));
}

TEST_CASE("failures back off 0.5 s doubling to 30 s; a worker that lived a minute resets it",
          "[nodes]") {
  auto t0 = node_table::clock::now();
  auto table = linked_and_up(t0);
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(table.worker_died("gpu-1", t0, false, 1s));
  CHECK(delays == std::vector<std::chrono::milliseconds>{500ms, 1000ms, 2000ms, 4000ms, 8000ms,
                                                         16000ms, 30000ms, 30000ms});
  CHECK(table.state("gpu-1", t0) == node_state::backoff);
  CHECK_FALSE(table.may_place("gpu-1", t0 + 29s));
  CHECK(table.may_place("gpu-1", t0 + 30s));
  CHECK(table.next_retry(t0) == t0 + 30s);
  CHECK(table.worker_died("gpu-1", t0, false, 61s) == 500ms);
  // A worker that died of its own (not its link) leaves the node reachable: nothing to probe.
  CHECK(table.probes_due(t0 + 1h).empty());
}

TEST_CASE("a node whose link was lost is probed, and used at once when it answers", "[nodes]") {
  auto t0 = node_table::clock::now();
  auto table = linked_and_up(t0);
  for (int i = 0; i < 6; ++i) table.worker_died("gpu-2", t0, true, 1s);  // backoff now 16 s
  CHECK(table.state("gpu-2", t0) == node_state::unreachable);
  CHECK_FALSE(table.may_place("gpu-2", t0 + 20s));  // unreachable: placement leaves it alone
  CHECK(table.next_retry(t0) == t0);                // no reachable node waits: nothing to schedule
  CHECK(table.probes_due(t0).empty());
  CHECK(table.probes_due(t0 + 1s) == std::vector<std::string>{"gpu-2"});
  CHECK(table.probe_failed("gpu-2", t0 + 1s));
  CHECK(table.probes_due(t0 + 2s) == std::vector<std::string>{"gpu-2"});

  auto statuses = table.statuses(t0 + 2s, {{"gpu-1", 2}});
  REQUIRE(statuses.size() == 2);
  CHECK(statuses[0].state == node_state::up);
  CHECK(statuses[0].workers == 2);
  CHECK(statuses[1].state == node_state::unreachable);
  CHECK(statuses[1].workers == 0);
  CHECK(statuses[1].since == t0.time_since_epoch());
  CHECK(statuses[1].retry_at == (t0 + 2s).time_since_epoch());  // being probed now

  // It answers: its backoff (16 s) is forgotten, it takes workers again at once.
  CHECK(table.probe_answered("gpu-2", t0 + 3s));
  CHECK(table.state("gpu-2", t0 + 3s) == node_state::up);
  CHECK(table.may_place("gpu-2", t0 + 3s));
  CHECK(table.worker_died("gpu-2", t0 + 4s, false, 1s) == 500ms);
}

TEST_CASE("a failed spawn is followed by a probe: a node that answers keeps backing off",
          "[nodes]") {
  auto t0 = node_table::clock::now();
  auto table = linked_and_up(t0);
  table.place_failed("gpu-1", t0);
  CHECK(table.probes_due(t0) == std::vector<std::string>{"gpu-1"});
  CHECK_FALSE(table.probe_answered("gpu-1", t0 + 5ms));  // it answers, but refused: no reset
  CHECK(table.state("gpu-1", t0 + 5ms) == node_state::backoff);
  CHECK(table.place_failed("gpu-1", t0 + 600ms) == 1000ms);
  // A node that does not answer the probe is unreachable.
  table.place_failed("gpu-2", t0);
  CHECK(table.probes_due(t0 + 700ms) == std::vector<std::string>{"gpu-1", "gpu-2"});
  table.probe_failed("gpu-2", t0 + 700ms);
  CHECK(table.state("gpu-2", t0 + 700ms) == node_state::unreachable);
}

TEST_CASE("node figures are in the gateway's uptime", "[nodes]") {
  auto started = node_table::clock::now();
  node_status status{"gpu-1", node_state::unreachable, 0, (started + 2s).time_since_epoch(),
                     (started + 3500ms).time_since_epoch()};
  auto figures = to_figures(status, started);
  CHECK(figures.name == "gpu-1");
  CHECK(figures.state == "unreachable");
  CHECK(figures.since_s == Approx(2.0));
  CHECK(figures.retry_at_s == Approx(3.5));
  status.state = node_state::up;
  CHECK(to_figures(status, started).retry_at_s == 0.0);
}

TEST_CASE("a node that refuses the handshake is probed after a backoff, not every period",
          "[nodes]") {
  auto t0 = node_table::clock::now();
  node_table table(two_nodes, true, t0, 200ms);
  table.place_failed("gpu-2", t0);
  auto t = t0;
  // Probes after 0.5, 1, 2, 4 s of refusals (each failed TLS handshake may cost the other
  // links their connection), where an unanswered probe would be repeated every 200 ms.
  for (auto wait : {500ms, 1000ms, 2000ms, 4000ms}) {
    REQUIRE(table.probes_due(t) == std::vector<std::string>{"gpu-2"});
    table.probe_failed("gpu-2", t, true);
    CHECK(table.probes_due(t + wait - 10ms).empty());
    t += wait;
  }
  CHECK(table.state("gpu-2", t) == node_state::unreachable);
  CHECK(table.probes_due(t) == std::vector<std::string>{"gpu-2"});
  CHECK(table.probe_answered("gpu-2", t + 5ms));
  CHECK(table.state("gpu-2", t + 5ms) == node_state::up);
}
