#include "tools/sim/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <stdexcept>

#include "actors/capacity_meter.hpp"
#include "tools/sim/scalers.hpp"

namespace muse::sim {

actors::scaling_inputs scaling_inputs_from(const interval_figures& f, double last_capacity) {
  actors::scaling_inputs in;
  in.workers = f.workers;
  in.arrivals_per_s = f.window_s > 0 ? f.arrivals_in_window / f.window_s : 0;
  in.queue_depth = f.queue_depth;
  in.in_flight = f.in_flight;
  in.images_per_s_per_worker = f.busy_s > 0 ? f.images_done / f.busy_s : last_capacity;
  const double full_s = actors::full_call_seconds(f.calls_by_rows, f.busy_s_by_rows);
  if (full_s > 0) in.full_batch_images_per_s = static_cast<double>(f.calls_by_rows.size()) / full_s;
  return in;
}

namespace {

constexpr double latency_bucket_s = 0.01;

// Requests that arrived together (in one bin) and wait or ride together.
struct waiting {
  double arrived = 0;
  uint64_t count = 0;
};

enum class worker_state { starting, idle, busy, gone };

struct worker {
  int node = 0;
  worker_state state = worker_state::starting;
  bool draining = false;
  double started = 0;
  uint32_t generation = 0;  // bumped when it goes, so that its pending event is ignored
  std::vector<waiting> batch;
  uint64_t batch_size = 0;
  double batch_s = 0;
};

struct node {
  int slots = 0;
  int used = 0;
  double down_until = 0;
};

struct event {
  double at = 0;
  int worker = 0;
  uint32_t generation = 0;
  bool operator>(const event& other) const {
    return at != other.at ? at > other.at : worker > other.worker;
  }
};

class simulation {
 public:
  simulation(const trace& load, const sim_settings& settings)
      : load_(load),
        settings_(settings),
        arrivals_rng_(settings.seed),
        failures_rng_(settings.seed ^ 0x9e3779b97f4a7c15ULL) {
    if (settings_.gpus_per_node == 0) settings_.gpus_per_node = settings_.gpus < 16 ? 1 : 8;
    if (settings_.gpus < 1 || settings_.gpus_per_node < 1 || settings_.max_batch_size < 1)
      throw std::invalid_argument("gpus, gpus_per_node and max_batch_size must be at least 1");
    if (settings_.autoscale.interval_s < 1 || settings_.bin_s <= 0)
      throw std::invalid_argument("interval_s and bin_s must be positive");
    settings_.autoscale.max_workers = settings_.gpus;
    settings_.autoscale.min_workers = std::min(settings_.autoscale.min_workers, settings_.gpus);
    for (int left = settings_.gpus; left > 0; left -= settings_.gpus_per_node)
      nodes_.push_back(node{std::min(left, settings_.gpus_per_node)});
    scaler_ = make_scaler(settings_, load_);
    latencies_.assign(static_cast<size_t>((2 * settings_.timeout_s + 600) / latency_bucket_s), 0);
    arrivals_by_second_.assign(static_cast<size_t>(load_.duration_s) + 2, 0);
    calls_by_rows_.assign(static_cast<size_t>(settings_.max_batch_size), 0);
    busy_s_by_rows_.assign(static_cast<size_t>(settings_.max_batch_size), 0.0);
  }

  sim_result run() {
    // Every policy starts with the workers the oracle gives the first interval, loaded.
    target_ = oracle_workers(load_.rate(0), settings_);
    reconcile(0);
    while (!events_.empty()) {
      auto e = events_.top();
      events_.pop();
      make_ready(e.worker, 0);
    }
    const auto bins = static_cast<uint64_t>(std::ceil(load_.duration_s / settings_.bin_s));
    const double tick_s = scaler_->tick_s();
    double next_tick = tick_s;
    std::exponential_distribution<double> gap(settings_.failures_per_hour / 3600);
    double next_failure = settings_.failures_per_hour > 0 ? gap(failures_rng_) : INFINITY;
    double next_repair = INFINITY;
    for (uint64_t i = 0; i < bins; ++i) {
      const double now = i * settings_.bin_s;
      run_events_until(now);
      if (now >= next_failure) {
        fail_a_node(now);
        next_repair = std::min(next_repair, now + settings_.repair_s);
        next_failure += gap(failures_rng_);
      }
      if (now >= next_repair) {
        next_repair = INFINITY;
        for (auto& n : nodes_)
          if (n.down_until > now) next_repair = std::min(next_repair, n.down_until);
        reconcile(now);
      }
      if (now >= next_tick) {
        tick(now);
        next_tick += tick_s;
      }
      arrive(now);
      dispatch(now);
    }
    // No more arrivals: the workers finish what is queued; GPU time counts to the trace's end.
    end_ = load_.duration_s;
    run_events_until(INFINITY);
    for (auto& w : workers_)
      if (w.state != worker_state::gone) result_.gpu_hours += (end_ - w.started) / 3600;
    finish_percentiles();
    return std::move(result_);
  }

 private:
  void arrive(double now) {
    const double mean = load_.rate(now + settings_.bin_s / 2) * settings_.bin_s;
    if (mean <= 0) return;
    const uint64_t count = std::poisson_distribution<uint64_t>(mean)(arrivals_rng_);
    if (count == 0) return;
    queue_.push_back({now, count});
    queued_ += count;
    arrivals_by_second_[static_cast<size_t>(now)] += count;
    result_.requests += count;
  }

  void run_events_until(double until) {
    while (!events_.empty() && events_.top().at <= until) {
      auto e = events_.top();
      events_.pop();
      auto& w = workers_[e.worker];
      if (w.generation != e.generation) continue;
      if (w.state == worker_state::starting)
        make_ready(e.worker, e.at);
      else if (w.state == worker_state::busy)
        finish_batch(e.worker, e.at);
    }
  }

  void make_ready(int id, double now) {
    auto& w = workers_[id];
    w.state = worker_state::idle;
    if (!start_batch(id, now)) idle_.push_back(id);
  }

  void record(double latency_s, uint64_t count) {
    if (latency_s <= settings_.slo_s) result_.within_slo += count;
    auto bucket =
        std::min(static_cast<size_t>(latency_s / latency_bucket_s), latencies_.size() - 1);
    latencies_[bucket] += count;
  }

  void drop_expired(double now) {
    while (!queue_.empty() && now - queue_.front().arrived > settings_.timeout_s) {
      record(settings_.timeout_s, queue_.front().count);
      result_.timed_out += queue_.front().count;
      queued_ -= queue_.front().count;
      queue_.pop_front();
    }
  }

  // Takes up to max_batch_size waiting requests onto an idle worker; false when none waits.
  bool start_batch(int id, double now) {
    drop_expired(now);
    if (queued_ == 0) return false;
    auto& w = workers_[id];
    w.batch.clear();
    uint64_t size = 0;
    const auto most = static_cast<uint64_t>(settings_.max_batch_size);
    while (size < most && !queue_.empty()) {
      auto& front = queue_.front();
      uint64_t take = std::min(front.count, most - size);
      w.batch.push_back({front.arrived, take});
      size += take;
      front.count -= take;
      if (front.count == 0) queue_.pop_front();
    }
    queued_ -= size;
    in_flight_ += size;
    w.batch_size = size;
    w.batch_s = settings_.service.seconds(static_cast<int>(size));
    w.state = worker_state::busy;
    events_.push({now + w.batch_s, id, w.generation});
    return true;
  }

  void finish_batch(int id, double now) {
    auto& w = workers_[id];
    for (auto& part : w.batch) record(now - part.arrived, part.count);
    w.batch.clear();
    in_flight_ -= w.batch_size;
    images_done_ += w.batch_size;
    busy_s_ += w.batch_s;
    const auto row = std::min<size_t>(w.batch_size, calls_by_rows_.size()) - 1;
    ++calls_by_rows_[row];
    busy_s_by_rows_[row] += w.batch_s;
    w.state = worker_state::idle;
    if (w.draining) {
      stop(id, now);
      return;
    }
    if (!start_batch(id, now)) idle_.push_back(id);
  }

  void stop(int id, double now) {
    auto& w = workers_[id];
    if (!w.draining) --active_;
    w.state = worker_state::gone;
    ++w.generation;
    --nodes_[w.node].used;
    result_.gpu_hours += (std::min(now, load_.duration_s) - w.started) / 3600;
  }

  // A node is lost: its workers go; their batches go back to the front of the queue (the
  // balancer resends a dead worker's batches), and the supervisor replaces them at once.
  void fail_a_node(double now) {
    std::vector<int> up;
    for (size_t n = 0; n < nodes_.size(); ++n)
      if (nodes_[n].down_until <= now) up.push_back(static_cast<int>(n));
    if (up.empty()) return;
    const int lost = up[std::uniform_int_distribution<size_t>(0, up.size() - 1)(failures_rng_)];
    ++result_.failures;
    for (size_t id = 0; id < workers_.size(); ++id) {
      auto& w = workers_[id];
      if (w.node != lost || w.state == worker_state::gone) continue;
      if (w.state == worker_state::busy) {
        for (auto it = w.batch.rbegin(); it != w.batch.rend(); ++it) queue_.push_front(*it);
        queued_ += w.batch_size;
        in_flight_ -= w.batch_size;
        w.batch.clear();
      }
      stop(static_cast<int>(id), now);
    }
    nodes_[lost].down_until = now + settings_.repair_s;
    reconcile(now);
    dispatch(now);
  }

  // Idle workers take what waits (a drained one may still be listed: it is skipped).
  void dispatch(double now) {
    while (!idle_.empty() && queued_ > 0) {
      int w = idle_.back();
      idle_.pop_back();
      if (workers_[w].state != worker_state::idle) continue;
      if (!start_batch(w, now)) {
        idle_.push_back(w);
        return;
      }
    }
  }

  // As the supervisor's reconcile(): start workers on the node with the most free slots, or
  // drain the newest.
  void reconcile(double now) {
    while (active_ < target_) {
      int best = -1;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        auto& candidate = nodes_[n];
        if (candidate.down_until > now || candidate.used >= candidate.slots) continue;
        if (best < 0 || candidate.slots - candidate.used > nodes_[best].slots - nodes_[best].used)
          best = static_cast<int>(n);
      }
      if (best < 0) break;
      worker w;
      w.node = best;
      w.started = now;
      ++nodes_[best].used;
      workers_.push_back(std::move(w));
      const int id = static_cast<int>(workers_.size()) - 1;
      newest_.push_back(id);
      events_.push({now + settings_.startup_s, id, 0});
      ++active_;
    }
    while (active_ > target_ && !newest_.empty()) {
      const int id = newest_.back();
      newest_.pop_back();
      auto& w = workers_[id];
      if (w.state == worker_state::gone || w.draining) continue;
      if (w.state == worker_state::busy) {
        w.draining = true;
        --active_;
      } else {
        stop(id, now);
      }
    }
    result_.most_workers = std::max(result_.most_workers, active_);
  }

  void tick(double now) {
    drop_expired(now);
    interval_figures f;
    f.window_s = std::min(settings_.rate_window_s, std::max(now, 1.0));
    const auto last = static_cast<size_t>(now);
    for (size_t s = last - std::min(last, static_cast<size_t>(f.window_s)); s < last; ++s)
      f.arrivals_in_window += arrivals_by_second_[s];
    f.queue_depth = queued_;
    f.in_flight = in_flight_;
    f.workers = active_;
    f.images_done = images_done_;
    f.busy_s = busy_s_;
    f.calls_by_rows = calls_by_rows_;
    f.busy_s_by_rows = busy_s_by_rows_;
    tick_record record;
    record.at_s = now;
    record.rate_per_s = load_.rate(now);
    record.inputs = scaling_inputs_from(f, capacity_);
    capacity_ = record.inputs.images_per_s_per_worker;
    images_done_ = 0;
    busy_s_ = 0;
    target_ = scaler_->decide(record.inputs, now);
    record.target = target_;
    reconcile(now);
    for (auto& w : workers_)
      if (!w.draining && (w.state == worker_state::idle || w.state == worker_state::busy))
        ++record.ready;
    result_.ticks.push_back(record);
  }

  void finish_percentiles() {
    uint64_t total = 0;
    for (auto c : latencies_) total += c;
    auto at = [&](double share) {
      if (total == 0) return 0.0;
      const auto rank = static_cast<uint64_t>(std::ceil(share * total));
      uint64_t seen = 0;
      for (size_t b = 0; b < latencies_.size(); ++b) {
        seen += latencies_[b];
        if (seen >= rank) return (b + 1) * latency_bucket_s;
      }
      return latencies_.size() * latency_bucket_s;
    };
    result_.p50_s = at(0.50);
    result_.p95_s = at(0.95);
    result_.p99_s = at(0.99);
  }

  trace load_;
  sim_settings settings_;
  std::mt19937_64 arrivals_rng_;
  std::mt19937_64 failures_rng_;
  std::unique_ptr<scaler> scaler_;
  std::vector<node> nodes_;
  std::vector<worker> workers_;
  std::vector<int> idle_;
  std::vector<int> newest_;  // in start order
  std::priority_queue<event, std::vector<event>, std::greater<event>> events_;
  std::deque<waiting> queue_;
  uint64_t queued_ = 0;
  uint64_t in_flight_ = 0;
  int active_ = 0;  // starting or serving, not draining
  int target_ = 1;
  uint64_t images_done_ = 0;             // this interval
  double busy_s_ = 0;                    // this interval
  std::vector<uint64_t> calls_by_rows_;  // batches by size, over the run
  std::vector<double> busy_s_by_rows_;
  double capacity_ = 0;  // the last measured images per busy second
  double end_ = 0;
  std::vector<uint64_t> latencies_;  // counts per latency_bucket_s
  std::vector<uint64_t> arrivals_by_second_;
  sim_result result_;
};

}  // namespace

sim_result simulate(const trace& load, const sim_settings& settings) {
  return simulation(load, settings).run();
}

}  // namespace muse::sim
