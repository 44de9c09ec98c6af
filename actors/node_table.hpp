#pragma once
// What the supervisor knows of each node it places workers on, as a pure class: whether the node
// is reachable and the backoff after a failure there. A node is
// - `up`: linked (a worker started there, or a probe answered) and not backing off;
// - `backoff`: linked, but a spawn there failed or a worker there died: not used until the
//   backoff ends (0.5 s doubling to 30 s; a worker that lived a minute starts the count afresh);
// - `unreachable`: its link was lost (a worker there died of it) or a probe found no one there,
//   or, on a cluster, it was never linked yet. Placement does not try it (a connect to a stopped
//   node would hold the supervisor), but for a node never seen yet (at start every node is tried,
//   so the first workers spread); the supervisor probes it every probe period instead, and when
//   a probe answers, its backoff is reset and it may be used at once.
// After a failed spawn on a linked node a probe tells the two apart (a node that answers but
// refuses spawns keeps backing off; one that does not answer is unreachable). Without links
// (workers in this process) every node is reachable from the start and nothing is probed.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "actors/stats_snapshot.hpp"

namespace muse::actors {

enum class node_state { up, unreachable, backoff };
const char* to_string(node_state state);

// A node as the supervisor reports it to the stats: times on the steady clock (since its epoch),
// which the stats actor turns into the gateway's uptime (node_figures).
struct node_status {
  std::string name;
  node_state state = node_state::up;
  int32_t workers = 0;
  std::chrono::nanoseconds since{};     // when it entered its state
  std::chrono::nanoseconds retry_at{};  // unreachable: the next probe; backoff: the next spawn
};

// `started`: the steady-clock time the uptime counts from.
node_figures to_figures(const node_status& status, std::chrono::steady_clock::time_point started);

class node_table {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds first_backoff{500};
  static constexpr std::chrono::milliseconds max_backoff{30000};
  static constexpr std::chrono::seconds stable_after{60};

  // `linked`: the nodes are reached over cluster links (probed; unreachable until seen).
  node_table(const std::vector<std::string>& names, bool linked, clock::time_point now,
             std::chrono::milliseconds probe_period);

  // Reachable (or never seen yet) and not backing off.
  bool may_place(const std::string& node, clock::time_point now) const;
  // The soonest end of a backoff after `now` among reachable nodes; now when there is none.
  clock::time_point next_retry(clock::time_point now) const;

  void placed(const std::string& node, clock::time_point now);
  // Both answer the backoff the node now waits out.
  std::chrono::milliseconds place_failed(const std::string& node, clock::time_point now);
  // `link_lost`: the worker died because the link to its node was lost; `lived`: how long it ran.
  std::chrono::milliseconds worker_died(const std::string& node, clock::time_point now,
                                        bool link_lost, clock::duration lived);

  // The nodes to probe now; each counts as probing until its answer or failure.
  std::vector<std::string> probes_due(clock::time_point now);
  // True when the node was unreachable: its backoff is reset, missing workers may go there now.
  bool probe_answered(const std::string& node, clock::time_point now);
  // True for the first failure since the node was last reachable (worth a line in the log).
  // `refused`: the node answered but the handshake failed (TLS: a certificate one side does not
  // trust): probed again after a backoff (0.5 s doubling to 30 s), not every probe period.
  bool probe_failed(const std::string& node, clock::time_point now, bool refused = false);

  node_state state(const std::string& node, clock::time_point now) const;
  // `workers`: the workers counted on each node, by name.
  std::vector<node_status> statuses(clock::time_point now,
                                    const std::map<std::string, int>& workers) const;

 private:
  struct entry {
    std::string name;
    int failures_in_a_row = 0;
    clock::time_point retry_at{};  // end of the backoff
    clock::time_point failed_at{};
    bool reachable = true;
    clock::time_point since{};  // when it became reachable or unreachable
    bool probe_wanted = false;
    bool probing = false;
    clock::time_point probe_at{};
    int failed_probes = 0;  // since it was last reachable
    bool seen = false;      // linked, or found unreachable, at least once
  };
  entry* find(const std::string& node);
  const entry* find(const std::string& node) const;
  std::chrono::milliseconds fail(entry& e, clock::time_point now);
  void lose(entry& e, clock::time_point now);

  std::vector<entry> entries_;
  bool linked_;
  std::chrono::milliseconds probe_period_;
};

}  // namespace muse::actors
