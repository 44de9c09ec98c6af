#include "tools/bench/load_runner.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <limits>
#include <stdexcept>
#include <thread>

#include "tools/bench/http_connection.hpp"
#include "tools/bench/request_builder.hpp"

namespace muse::bench {
namespace {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

// Each connection is a descriptor; these are for stdio, the event loops and the JSON file.
constexpr size_t reserved_descriptors = 64;
constexpr size_t default_open_connections = 10000;

// A server that refuses connections would otherwise be hammered in a tight loop.
constexpr std::chrono::milliseconds connect_retry_pause{50};

clock_type::duration seconds(double s) {
  return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

enum class admission { warmup, measured, over };

struct run_control {
  run_control(const bench_options& o, asio::ip::tcp::endpoint ep)
      : options(o), requests(o), endpoint(std::move(ep)) {}

  // Whether a request starting at `when` is sent, and whether it counts.
  admission admit(time_point when) {
    if (stopping.load(std::memory_order_relaxed)) return admission::over;
    if (when < measure_start) return admission::warmup;
    if (when >= measure_end) return admission::over;
    if (options.requests) {
      const uint64_t n = issued.fetch_add(1, std::memory_order_relaxed);
      if (n >= *options.requests) return admission::over;
      // The last request of the budget: lanes waiting for a later arrival need not wait for it.
      if (n + 1 == *options.requests && on_budget_spent) on_budget_spent();
    }
    return admission::measured;
  }

  const bench_options& options;
  request_source requests;
  asio::ip::tcp::endpoint endpoint;
  time_point start, measure_start, measure_end;
  std::atomic<uint64_t> issued{0};
  std::atomic<bool> stopping{false};
  std::atomic<int> lanes_running{0};
  // For the progress line only; the results come from the lanes' own tallies.
  std::atomic<uint64_t> sent{0}, answered_ok{0}, answered_failed{0};
  std::function<void()> on_all_lanes_done;
  std::function<void()> on_budget_spent;
};

class lane {
 public:
  explicit lane(run_control& control) : control_(control) {}

  asio::io_context io{1};
  tally counts;
  time_point last_completion{};
  run_control& control() { return control_; }

  std::shared_ptr<http_connection> new_connection() {
    return std::make_shared<http_connection>(io, control_.endpoint,
                                             seconds(control_.options.timeout_s));
  }

  void record(const exchange_result& result, time_point started, bool measured) {
    const time_point now = clock_type::now();
    (result.kind == exchange_kind::ok ? control_.answered_ok : control_.answered_failed)
        .fetch_add(1, std::memory_order_relaxed);
    // Throughput counts what the server completed inside the window, whenever it was sent: the
    // requests still in flight when a duration ends are then balanced by those in flight when the
    // warmup ended.
    if (result.kind == exchange_kind::ok && now >= control_.measure_start &&
        now < control_.measure_end)
      ++counts.ok_in_window;
    if (!measured) {
      ++counts.warmup_requests;
      return;
    }
    last_completion = std::max(last_completion, now);
    switch (result.kind) {
      case exchange_kind::ok:
        ++counts.ok;
        counts.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(now - started).count());
        return;
      case exchange_kind::http_error:
        ++counts.by_status[result.status];
        break;
      case exchange_kind::connect_error:
        ++counts.connect_errors;
        break;
      case exchange_kind::connection_error:
        ++counts.connection_errors;
        break;
      case exchange_kind::timeout:
        ++counts.timeouts;
        break;
      case exchange_kind::protocol_error:
        ++counts.protocol_errors;
        break;
    }
    if (counts.first_error.empty())
      counts.first_error = result.kind == exchange_kind::http_error
                               ? "status " + std::to_string(result.status) + ": " + result.detail
                               : result.detail;
  }

  void unit_started() { ++units_; }
  void unit_finished() {
    if (--units_ == 0 && control_.lanes_running.fetch_sub(1) == 1 && control_.on_all_lanes_done)
      control_.on_all_lanes_done();
  }

 private:
  run_control& control_;
  int units_ = 0;
};

// Closed loop: sends its next request when the last one returns, on its own connection.
class closed_user : public std::enable_shared_from_this<closed_user> {
 public:
  explicit closed_user(lane& l) : lane_(l), connection_(l.new_connection()), pause_(l.io) {}

  void start() {
    lane_.unit_started();
    asio::post(lane_.io, [self = shared_from_this()] { self->next(); });
  }

 private:
  void next() {
    const time_point started = clock_type::now();
    const admission admit = lane_.control().admit(started);
    if (admit == admission::over) {
      connection_->close();
      return lane_.unit_finished();
    }
    const bool measured = admit == admission::measured;
    lane_.control().sent.fetch_add(1, std::memory_order_relaxed);
    connection_->send(lane_.control().requests.next(), [self = shared_from_this(), started,
                                                        measured](const exchange_result& result) {
      self->lane_.record(result, started, measured);
      if (result.kind != exchange_kind::connect_error) return self->next();
      self->pause_.expires_after(connect_retry_pause);
      self->pause_.async_wait([self](const asio::error_code&) { self->next(); });
    });
  }

  lane& lane_;
  std::shared_ptr<http_connection> connection_;
  asio::steady_timer pause_;
};

// Open loop: arrivals on a fixed schedule, each taking an idle connection or opening one.
// Latency counts from the scheduled arrival, so a slow server cannot hide its queueing by
// slowing the client down.
class open_arrivals : public std::enable_shared_from_this<open_arrivals> {
 public:
  open_arrivals(lane& l, size_t index, size_t lanes, size_t max_connections)
      : lane_(l),
        timer_(l.io),
        max_open_(std::max<size_t>(1, (max_connections + lanes - 1) / lanes)) {
    const double rate = *l.control().options.rate;
    interval_s_ = double(lanes) / rate;
    first_ = l.control().start + seconds(double(index) / rate);
  }

  void start() {
    lane_.unit_started();
    asio::post(lane_.io, [self = shared_from_this()] { self->tick(); });
  }

  // Runs on this lane's thread. Ends the arrivals directly: cancelling the timer alone would miss a
  // wait that has already completed and whose handler is queued.
  void stop() { end_arrivals(); }

 private:
  struct waiting {
    time_point scheduled;
    bool measured;
  };

  time_point arrival(uint64_t k) const { return first_ + seconds(double(k) * interval_s_); }

  void tick() {
    const time_point now = clock_type::now();
    while (!over_ && arrival(next_) <= now) {
      const time_point scheduled = arrival(next_);
      const admission admit = lane_.control().admit(scheduled);
      if (admit == admission::over) {
        end_arrivals();
        return;
      }
      dispatch(scheduled, admit == admission::measured);
      ++next_;
    }
    if (over_) return;
    // An arrival at or after the end of the duration is never sent: a lane whose next arrival
    // (or first) falls beyond it ends now instead of sleeping until then.
    if (arrival(next_) >= lane_.control().measure_end) return end_arrivals();
    timer_.expires_at(arrival(next_));
    timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
      if (error) return self->end_arrivals();
      self->tick();
    });
  }

  void dispatch(time_point scheduled, bool measured) {
    if (!idle_.empty()) {
      auto connection = idle_.back();
      idle_.pop_back();
      return exchange(connection, scheduled, measured);
    }
    if (open_ < max_open_) {
      ++open_;
      return exchange(lane_.new_connection(), scheduled, measured);
    }
    waiting_.push_back({scheduled, measured});
  }

  void exchange(const std::shared_ptr<http_connection>& connection, time_point scheduled,
                bool measured) {
    ++in_flight_;
    lane_.control().sent.fetch_add(1, std::memory_order_relaxed);
    connection->send(lane_.control().requests.next(),
                     [self = shared_from_this(), connection, scheduled,
                      measured](const exchange_result& result) {
                       --self->in_flight_;
                       self->lane_.record(result, scheduled, measured);
                       self->release(connection);
                     });
  }

  void release(const std::shared_ptr<http_connection>& connection) {
    if (!waiting_.empty()) {
      const waiting next = waiting_.front();
      waiting_.pop_front();
      return exchange(connection, next.scheduled, next.measured);
    }
    if (!over_) return idle_.push_back(connection);
    connection->close();
    finish_if_drained();
  }

  void end_arrivals() {
    if (over_) return;
    over_ = true;
    timer_.cancel();
    for (auto& connection : idle_) connection->close();
    idle_.clear();
    finish_if_drained();
  }

  void finish_if_drained() {
    if (over_ && !finished_ && in_flight_ == 0 && waiting_.empty()) {
      finished_ = true;
      lane_.unit_finished();
    }
  }

  lane& lane_;
  asio::steady_timer timer_;
  double interval_s_ = 1;
  time_point first_;
  uint64_t next_ = 0;
  bool over_ = false;
  bool finished_ = false;
  size_t open_ = 0;
  size_t max_open_;
  size_t in_flight_ = 0;
  std::vector<std::shared_ptr<http_connection>> idle_;
  std::deque<waiting> waiting_;
};

asio::ip::tcp::endpoint resolve(const http_target& target) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  asio::error_code error;
  const auto results = resolver.resolve(target.host, std::to_string(target.port), error);
  if (error || results.empty())
    throw std::runtime_error("cannot resolve '" + target.host +
                             "': " + (error ? error.message() : "no address"));
  return results.begin()->endpoint();
}

}  // namespace

size_t descriptor_hard_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_max == RLIM_INFINITY ||
      limit.rlim_max > std::numeric_limits<int>::max())
    return size_t(std::numeric_limits<int>::max());
  return std::max<size_t>(size_t(limit.rlim_max), reserved_descriptors + 1);
}

void ensure_descriptor_limit(size_t connections) {
  const rlim_t needed = rlim_t(connections + reserved_descriptors);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur >= needed) return;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed)
    throw std::runtime_error(std::to_string(connections) + " connections need " +
                             std::to_string(needed) + " open files but the hard limit is " +
                             std::to_string(limit.rlim_max) + " (raise it: ulimit -Hn)");
  limit.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
    throw std::runtime_error("cannot raise the open-file limit to " + std::to_string(needed));
}

bench_result run_load(const bench_options& options, bool stop_on_interrupt) {
  size_t connections = size_t(options.users);
  if (options.open_loop())
    connections =
        options.max_connections
            ? size_t(*options.max_connections)
            : std::min(default_open_connections, descriptor_hard_limit() - reserved_descriptors);
  ensure_descriptor_limit(connections);
  run_control control(options, resolve(options.target));

  size_t lanes_count = size_t(options.threads);
  if (!options.open_loop()) lanes_count = std::min(lanes_count, size_t(options.users));
  std::vector<std::unique_ptr<lane>> lanes;
  for (size_t i = 0; i < lanes_count; ++i) lanes.push_back(std::make_unique<lane>(control));
  control.lanes_running = int(lanes_count);

  control.start = clock_type::now();
  control.measure_start = control.start + seconds(options.warmup_s);
  control.measure_end =
      options.duration_s ? control.measure_start + seconds(*options.duration_s) : time_point::max();

  std::vector<std::shared_ptr<open_arrivals>> arrivals;
  if (options.open_loop()) {
    for (size_t i = 0; i < lanes_count; ++i)
      arrivals.push_back(std::make_shared<open_arrivals>(*lanes[i], i, lanes_count, connections));
    // Set before any loop runs; lanes finished by then ignore the posted stop.
    control.on_budget_spent = [&] {
      for (size_t i = 0; i < arrivals.size(); ++i)
        asio::post(lanes[i]->io, [a = arrivals[i]] { a->stop(); });
    };
    for (auto& a : arrivals) a->start();
  } else {
    for (int u = 0; u < options.users; ++u)
      std::make_shared<closed_user>(*lanes[size_t(u) % lanes_count])->start();
  }

  std::unique_ptr<asio::signal_set> signals;
  int interrupts = 0;
  // Lane 0's loop also waits on signals and the progress timer. When the last lane finishes they
  // are cancelled, but cancel() cannot recall a wait that has already completed and whose handler
  // is queued: that handler would re-arm and keep lane 0 (and the run) alive forever. Each handler
  // therefore checks this flag, which only lane 0's thread touches.
  bool run_over = false;
  if (stop_on_interrupt) {
    signals = std::make_unique<asio::signal_set>(lanes[0]->io, SIGINT, SIGTERM);
    std::function<void(const asio::error_code&, int)> on_signal = [&](const asio::error_code& error,
                                                                      int) {
      if (error || run_over) return;
      if (++interrupts == 1) {
        control.stopping = true;
        for (size_t i = 0; i < arrivals.size(); ++i)
          asio::post(lanes[i]->io, [a = arrivals[i]] { a->stop(); });
        signals->async_wait(on_signal);
      } else {
        for (auto& l : lanes) l->io.stop();
      }
    };
    signals->async_wait(on_signal);
  }

  std::unique_ptr<asio::steady_timer> progress;
  std::function<void(const asio::error_code&)> report;
  if (options.progress_s) {
    progress = std::make_unique<asio::steady_timer>(lanes[0]->io);
    report = [&](const asio::error_code& error) {
      if (error || run_over) return;
      const double at = std::chrono::duration<double>(clock_type::now() - control.start).count();
      const uint64_t ok = control.answered_ok.load(), failed = control.answered_failed.load();
      std::fprintf(stderr, "muse-bench: %.1f s%s, %llu ok, %llu failed, %llu in flight\n", at,
                   clock_type::now() < control.measure_start ? " (warmup)" : "",
                   static_cast<unsigned long long>(ok), static_cast<unsigned long long>(failed),
                   static_cast<unsigned long long>(control.sent.load() - ok - failed));
      progress->expires_after(seconds(*options.progress_s));
      progress->async_wait(report);
    };
    progress->expires_after(seconds(*options.progress_s));
    progress->async_wait(report);
  }
  if (signals || progress)
    control.on_all_lanes_done = [&] {
      asio::post(lanes[0]->io, [&] {
        run_over = true;
        if (signals) signals->cancel();
        if (progress) progress->cancel();
      });
    };

  std::vector<std::thread> threads;
  for (size_t i = 1; i < lanes.size(); ++i) threads.emplace_back([&, i] { lanes[i]->io.run(); });
  lanes[0]->io.run();
  for (auto& t : threads) t.join();

  tally total;
  time_point last = time_point::min();
  for (auto& l : lanes) {
    total.merge(l->counts);
    if (l->counts.measured() > 0) last = std::max(last, l->last_completion);
  }
  // The window ends with the duration, or earlier with the last response (a request bound or an
  // interrupt ended the run first).
  last = std::min(last, control.measure_end);
  const double elapsed = last > control.measure_start
                             ? std::chrono::duration<double>(last - control.measure_start).count()
                             : 0.0;
  bench_result result =
      make_result(std::move(total), elapsed, control.requests.images_per_request());
  result.interrupted = interrupts > 0;
  return result;
}

}  // namespace muse::bench
