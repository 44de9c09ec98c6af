#include "actors/node_table.hpp"

#include <algorithm>
#include <optional>

namespace muse::actors {

const char* to_string(node_state state) {
  switch (state) {
    case node_state::up:
      return "up";
    case node_state::unreachable:
      return "unreachable";
    case node_state::backoff:
      return "backoff";
  }
  return "up";
}

node_figures to_figures(const node_status& status, std::chrono::steady_clock::time_point started) {
  auto uptime = [&](std::chrono::nanoseconds at) {
    return std::chrono::duration<double>(at - started.time_since_epoch()).count();
  };
  node_figures figures;
  figures.name = status.name;
  figures.state = to_string(status.state);
  figures.workers = status.workers;
  figures.since_s = std::max(0.0, uptime(status.since));
  if (status.state != node_state::up) figures.retry_at_s = std::max(0.0, uptime(status.retry_at));
  return figures;
}

node_table::node_table(const std::vector<std::string>& names, bool linked, clock::time_point now,
                       std::chrono::milliseconds probe_period)
    : linked_(linked), probe_period_(probe_period) {
  for (auto& name : names) {
    entry e;
    e.name = name;
    e.since = now;
    e.reachable = !linked;
    e.probe_wanted = false;  // tried by placement first; probed once that fails
    e.probe_at = now;
    entries_.push_back(e);
  }
}

node_table::entry* node_table::find(const std::string& node) {
  for (auto& e : entries_)
    if (e.name == node) return &e;
  return nullptr;
}

const node_table::entry* node_table::find(const std::string& node) const {
  for (auto& e : entries_)
    if (e.name == node) return &e;
  return nullptr;
}

bool node_table::may_place(const std::string& node, clock::time_point now) const {
  auto* e = find(node);
  // A node never seen yet is tried as well: at start every node is, so the first workers spread.
  return e != nullptr && (e->reachable || !e->seen) && e->retry_at <= now;
}

node_table::clock::time_point node_table::next_retry(clock::time_point now) const {
  std::optional<clock::time_point> soonest;
  for (auto& e : entries_)
    if ((e.reachable || !e.seen) && e.retry_at > now && (!soonest || e.retry_at < *soonest))
      soonest = e.retry_at;
  return soonest.value_or(now);
}

void node_table::placed(const std::string& node, clock::time_point now) {
  auto* e = find(node);
  if (e == nullptr) return;
  if (!e->reachable) {
    e->reachable = true;
    e->since = now;
  }
  e->probe_wanted = false;
  e->failed_probes = 0;
  e->seen = true;
}

std::chrono::milliseconds node_table::fail(entry& e, clock::time_point now) {
  ++e.failures_in_a_row;
  auto delay = first_backoff;
  for (int i = 1; i < e.failures_in_a_row && delay < max_backoff; ++i) delay *= 2;
  delay = std::min(delay, max_backoff);
  e.retry_at = now + delay;
  e.failed_at = now;
  return delay;
}

void node_table::lose(entry& e, clock::time_point now) {
  e.seen = true;
  if (e.reachable) {
    e.reachable = false;
    e.since = now;
  }
  e.probe_wanted = linked_;
  if (!e.probing) e.probe_at = now + probe_period_;
}

std::chrono::milliseconds node_table::place_failed(const std::string& node, clock::time_point now) {
  auto* e = find(node);
  if (e == nullptr) return first_backoff;
  auto delay = fail(*e, now);
  if (linked_ && !e->probe_wanted) {
    // Refused, or not there? A probe tells.
    e->probe_wanted = true;
    e->probe_at = now;
  }
  return delay;
}

std::chrono::milliseconds node_table::worker_died(const std::string& node, clock::time_point now,
                                                  bool link_lost, clock::duration lived) {
  auto* e = find(node);
  if (e == nullptr) return first_backoff;
  if (lived >= stable_after) e->failures_in_a_row = 0;
  auto delay = fail(*e, now);
  if (link_lost && linked_) lose(*e, now);
  return delay;
}

std::vector<std::string> node_table::probes_due(clock::time_point now) {
  std::vector<std::string> due;
  if (!linked_) return due;
  for (auto& e : entries_)
    if (e.probe_wanted && !e.probing && e.probe_at <= now) {
      e.probing = true;
      due.push_back(e.name);
    }
  return due;
}

bool node_table::probe_answered(const std::string& node, clock::time_point now) {
  auto* e = find(node);
  if (e == nullptr) return false;
  e->probing = false;
  e->probe_wanted = false;
  e->failed_probes = 0;
  e->seen = true;
  if (e->reachable) return false;
  e->reachable = true;
  e->since = now;
  e->failures_in_a_row = 0;
  e->retry_at = now;
  return true;
}

bool node_table::probe_failed(const std::string& node, clock::time_point now, bool refused) {
  auto* e = find(node);
  if (e == nullptr) return false;
  e->probing = false;
  lose(*e, now);
  const bool first = ++e->failed_probes == 1;
  if (refused) {
    // Someone answers but the handshake fails: a configuration fault, not an outage. Probing
    // it every period would not bring it back sooner, and each failed TLS handshake can cost
    // the other links their connection: back off as after a refused spawn.
    auto delay = first_backoff;
    for (int i = 1; i < e->failed_probes && delay < max_backoff; ++i) delay *= 2;
    e->probe_at = now + std::min<std::chrono::milliseconds>(delay, max_backoff);
  }
  return first;
}

node_state node_table::state(const std::string& node, clock::time_point now) const {
  auto* e = find(node);
  if (e == nullptr || !e->reachable) return node_state::unreachable;
  return e->retry_at > now ? node_state::backoff : node_state::up;
}

std::vector<node_status> node_table::statuses(clock::time_point now,
                                              const std::map<std::string, int>& workers) const {
  std::vector<node_status> list;
  for (auto& e : entries_) {
    node_status s;
    s.name = e.name;
    s.state = state(e.name, now);
    auto count = workers.find(e.name);
    s.workers = count == workers.end() ? 0 : count->second;
    switch (s.state) {
      case node_state::up:
        s.since = e.since.time_since_epoch();
        break;
      case node_state::backoff:
        s.since = e.failed_at.time_since_epoch();
        s.retry_at = e.retry_at.time_since_epoch();
        break;
      case node_state::unreachable:
        s.since = e.since.time_since_epoch();
        s.retry_at = (e.probing ? now : e.probe_at).time_since_epoch();
        break;
    }
    list.push_back(s);
  }
  return list;
}

}  // namespace muse::actors
