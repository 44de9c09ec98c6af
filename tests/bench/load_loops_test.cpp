// Both load loops against test_http_server on 127.0.0.1: they must send exactly what they count,
// time what the server makes them wait, and sort failures by kind.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "tests/bench/test_http_server.hpp"
#include "tests/support/eventually.hpp"
#include "tools/bench/load_runner.hpp"

using namespace muse::bench;
using namespace muse::bench::testing;
using muse::testing::eventually;
using namespace std::chrono_literals;

namespace {
bench_options options_for(const std::string& url, std::vector<std::string> args) {
  args.insert(args.begin(), {"--url", url});
  return parse_options(args);
}

// run_load on its own thread. A run that does not return within `limit` fails the whole
// executable at once instead of hanging it until ctest's timeout.
class bounded_run {
 public:
  explicit bounded_run(bench_options o, bool interrupt = false)
      : options_(std::move(o)), thread_([this, interrupt] {
          try {
            result_.set_value(run_load(options_, interrupt));
          } catch (...) {
            result_.set_exception(std::current_exception());
          }
        }) {}
  ~bounded_run() {
    if (thread_.joinable()) get();
  }

  bench_result get(std::chrono::seconds limit = 20s) {
    auto future = result_.get_future();
    if (future.wait_for(limit) != std::future_status::ready) {
      std::fprintf(stderr, "run_load did not return within %lld s\n",
                   static_cast<long long>(limit.count()));
      std::_Exit(3);
    }
    thread_.join();
    return future.get();
  }

 private:
  bench_options options_;
  std::promise<bench_result> result_;
  std::thread thread_;
};

bench_result run_bounded(const bench_options& o, bool interrupt = false) {
  return bounded_run(o, interrupt).get();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

TEST_CASE("the closed loop keeps N requests in flight and times each one") {
  test_http_server server({20ms});
  const auto o = options_for(
      server.url(), {"--users", "4", "--requests", "40", "--prompt", "a fox", "--steps", "3"});
  const bench_result r = run_bounded(o);
  CHECK(r.counts.ok == 40);
  CHECK(r.counts.failed() == 0);
  CHECK(server.requests() == 40);
  CHECK(server.connections() == 4);      // one keep-alive connection per user
  CHECK(server.max_in_progress() <= 4);  // never more than one per user
  CHECK(r.latency.count == 40);
  CHECK(r.latency.min >= 20);
  CHECK(r.latency.p50 < 1000);
  // 4 users, 20 ms each: 10 rounds, at least 200 ms, at most 200 requests/s.
  CHECK(r.elapsed_s >= 0.2);
  CHECK(r.requests_per_s() <= 200.0 * 1.01);
  CHECK(r.requests_per_s() > 4);  // generous: a busy machine delays every round
  const auto body = nlohmann::json::parse(server.bodies().front());
  CHECK(body == nlohmann::json{{"prompt", "a fox"}, {"steps", 3}});
  CHECK(server.heads().front().rfind("POST /api/v1/generate HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("the closed loop has all N users' requests in flight at once") {
  // Held until the test sees all 4: a loop that kept fewer in flight would never get there.
  server_behaviour held;
  held.held = true;
  test_http_server server(held);
  bounded_run run(options_for(server.url(), {"--users", "4", "--requests", "12"}));
  for (size_t round = 1; round <= 3; ++round) {
    REQUIRE(eventually([&] { return server.requests() == 4 * round && server.in_progress() == 4; },
                       10s, 1ms));
    server.release_held();
  }
  const bench_result r = run.get();
  CHECK(r.counts.ok == 12);
  CHECK(server.max_in_progress() == 4);
  CHECK(server.connections() == 4);
}

TEST_CASE("the closed loop spreads users over several event-loop threads") {
  test_http_server server({5ms});
  const auto o = options_for(server.url(), {"--users", "6", "--requests", "60", "--threads", "3"});
  const bench_result r = run_bounded(o);
  CHECK(r.counts.ok == 60);
  CHECK(server.requests() == 60);
  CHECK(server.max_in_progress() <= 6);
}

TEST_CASE("warmup requests are sent but not measured") {
  test_http_server server({10ms});
  const auto o =
      options_for(server.url(), {"--users", "2", "--warmup", "300ms", "--requests", "10"});
  const bench_result r = run_bounded(o);
  CHECK(r.counts.ok == 10);
  CHECK(r.counts.warmup_requests >= 2);  // each user sends at least one in the warmup
  CHECK(server.requests() == 10 + r.counts.warmup_requests);
}

TEST_CASE("a duration bounds the closed loop") {
  test_http_server server({10ms});
  const auto o = options_for(server.url(), {"--users", "2", "--duration", "300ms"});
  const auto started = std::chrono::steady_clock::now();
  const bench_result r = run_bounded(o);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(wall >= 0.3);
  CHECK(wall < 5.0);  // generous: without the bound the loop would never end
  CHECK(r.counts.ok >= 2);
  CHECK(r.counts.ok <= 60);  // 2 users sending at most every 10 ms for 300 ms
  // The window ends with the duration, not with the responses after it. (It ends a little earlier
  // only if every user's last response came just before the end and its next send just after.)
  CHECK(r.elapsed_s <= Approx(0.3));
  CHECK(r.elapsed_s > 0.25);
}

TEST_CASE("throughput counts responses inside the window, not the tail after it") {
  // The server holds every request until the test releases it, so scheduling delays cannot move a
  // response across the window's edges. 4 users, warmup 150 ms, duration 800 ms:
  //   wave 1 (warmup requests) released just after the window opens: in the window, not measured;
  //   wave 2 (measured) released at once: in the window;
  //   wave 3 (measured, sent inside the window) released after the window closes: the tail.
  // 8 responses in the 0.8 s window: 10/s. Dividing the 8 measured requests by the time to the
  // last response would understate it.
  server_behaviour held;
  held.held = true;
  test_http_server server(held);
  const auto o =
      options_for(server.url(), {"--users", "4", "--warmup", "150ms", "--duration", "800ms"});
  bounded_run run(o);
  REQUIRE(eventually([&] { return server.in_progress() == 4; }, 10s, 1ms));
  // The run's clock starts before its first request reaches the server, so the window has
  // opened 150 ms after that arrival and closed 950 ms after it, at the latest.
  const auto first = server.arrivals().front();
  std::this_thread::sleep_until(first + 150ms + 5ms);
  server.release_held();
  REQUIRE(
      eventually([&] { return server.requests() == 8 && server.in_progress() == 4; }, 10s, 1ms));
  server.release_held();
  REQUIRE(
      eventually([&] { return server.requests() == 12 && server.in_progress() == 4; }, 10s, 1ms));
  const double wave3_sent_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
  std::this_thread::sleep_until(first + 950ms + 5ms);
  server.release_held();
  const bench_result r = run.get();
  INFO("wave 3 was in by " << wave3_sent_s << " s after the first request");
  CHECK(r.counts.warmup_requests == 4);
  CHECK(r.counts.ok == 8);            // waves 2 and 3
  CHECK(r.counts.ok_in_window == 8);  // waves 1 and 2
  CHECK(r.elapsed_s == Approx(0.8));
  CHECK(r.requests_per_s() == Approx(10));
  CHECK(server.requests() == 12);  // nobody sends after the window
}

TEST_CASE("the open loop sends on schedule, whatever the responses take") {
  // 100 requests/s for 500 ms with responses taking 150 ms: a closed loop of one user would
  // manage about 3; the open loop must keep about 15 in flight and send 50.
  test_http_server server({150ms});
  // 495 ms, not 500: arrival 50 falls at 500 ms and must not sit on the boundary.
  const auto o =
      options_for(server.url(), {"--rate", "100", "--duration", "495ms", "--api", "muse"});
  const auto started = std::chrono::steady_clock::now();
  const bench_result r = run_bounded(o);
  CHECK(r.counts.ok == 50);
  CHECK(server.requests() == 50);
  CHECK(server.max_in_progress() >= 10);
  CHECK(r.latency.min >= 150);
  CHECK(r.latency.p50 < 1500);
  auto arrivals = server.arrivals();
  std::sort(arrivals.begin(), arrivals.end());
  // Arrival k is due k * 10 ms after the start and is never sent before: the k-th one the server
  // sees cannot come earlier, however late the machine runs.
  size_t early = 0;
  for (size_t k = 0; k < arrivals.size(); ++k)
    if (arrivals[k] < started + k * 10ms) ++early;
  CHECK(early == 0);
  CHECK(std::chrono::duration<double>(arrivals.back() - started).count() < 3.0);
  CHECK(server.heads().front().rfind("POST /api/predict HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("the open loop with a request bound and two threads") {
  test_http_server server({0ms});
  const auto o =
      options_for(server.url(), {"--rate", "400", "--requests", "100", "--threads", "2"});
  const auto started = std::chrono::steady_clock::now();
  const bench_result r = run_bounded(o);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(r.counts.ok == 100);
  CHECK(server.requests() == 100);
  CHECK(wall >= 0.24);  // 100 arrivals at 400/s: the last is due at 247.5 ms
  CHECK(wall < 5.0);
}

TEST_CASE("a capped open loop queues arrivals and counts the wait in their latency") {
  test_http_server server({50ms});
  const auto o =
      options_for(server.url(), {"--rate", "100", "--requests", "10", "--max-connections", "1"});
  const bench_result r = run_bounded(o);
  CHECK(r.counts.ok == 10);
  CHECK(server.connections() == 1);
  CHECK(server.max_in_progress() == 1);
  // Ten arrivals 10 ms apart served 50 ms each: the last waits about 10*50 - 90 ms.
  CHECK(r.latency.max >= 350);
}

TEST_CASE("chunked and connection-closing servers are read correctly") {
  test_http_server chunked({0ms, 200, framing::chunked});
  auto r = run_bounded(options_for(chunked.url(), {"--users", "2", "--requests", "20"}));
  CHECK(r.counts.ok == 20);
  CHECK(chunked.connections() == 2);

  test_http_server closing({0ms, 200, framing::close_after});
  r = run_bounded(options_for(closing.url(), {"--users", "2", "--requests", "20"}));
  CHECK(r.counts.ok == 20);
  CHECK(r.counts.failed() == 0);
  CHECK(closing.connections() == 20);

  // A server that closes without saying so: the next request finds the connection dead before
  // any response byte and is sent again, once, on a fresh connection.
  test_http_server silent({0ms, 200, framing::silent_close});
  r = run_bounded(options_for(silent.url(), {"--users", "2", "--requests", "20"}));
  CHECK(r.counts.ok == 20);
  CHECK(r.counts.failed() == 0);
  CHECK(silent.requests() == 20);
}

TEST_CASE("error statuses are counted by status with the start of the body") {
  test_http_server server({0ms, 503, framing::content_length, R"({"error":{"code":"no_worker"}})"});
  const bench_result r =
      run_bounded(options_for(server.url(), {"--users", "3", "--requests", "30"}));
  CHECK(r.counts.ok == 0);
  CHECK(r.counts.by_status.at(503) == 30);
  CHECK(r.all_failed());
  CHECK_THAT(r.counts.first_error, Catch::Contains("status 503") && Catch::Contains("no_worker"));
  CHECK(server.connections() == 3);  // error responses keep the connection
}

TEST_CASE("slow responses time out and refused connections are connect errors") {
  test_http_server slow({2000ms});
  const auto started = std::chrono::steady_clock::now();
  auto r = run_bounded(
      options_for(slow.url(), {"--users", "2", "--requests", "4", "--timeout", "100ms"}));
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(r.counts.timeouts == 4);
  CHECK(r.counts.ok == 0);
  CHECK(wall < 1.9);  // the server would have answered after 2 s per request

  uint16_t closed_port;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  r = run_bounded(options_for("http://127.0.0.1:" + std::to_string(closed_port),
                              {"--users", "2", "--requests", "4"}));
  CHECK(r.counts.connect_errors == 4);
  CHECK(r.all_failed());
}

TEST_CASE("the progress timer and the signal handler end with the run") {
  test_http_server server({10ms});
  for (const char* mode : {"--users", "--rate"}) {
    const auto o = options_for(
        server.url(), {mode, "20", "--duration", "150ms", "--progress", "100ms", "--threads", "2"});
    const auto started = std::chrono::steady_clock::now();
    const bench_result r = run_bounded(o, true);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    CHECK(r.counts.ok > 0);
    CHECK_FALSE(r.interrupted);
    CHECK(wall < 5.0);
  }
}

TEST_CASE("a progress tick due as the last lane finishes does not keep the run alive") {
  // The runs end about when the second 100 ms progress tick comes due: a tick that has already
  // completed when the last lane finishes must not re-arm itself.
  test_http_server server({10ms});
  for (int i = 0; i < 5; ++i) {
    auto o = options_for(server.url(), {"--rate", "20", "--duration", "140ms", "--progress",
                                        "100ms", "--threads", "2"});
    auto started = std::chrono::steady_clock::now();
    bench_result r = run_bounded(o, true);
    CHECK(r.counts.ok == 3);  // arrivals at 0, 50 and 100 ms
    CHECK(seconds_since(started) < 5.0);

    o = options_for(server.url(), {"--users", "2", "--duration", "195ms", "--progress", "100ms",
                                   "--threads", "2"});
    started = std::chrono::steady_clock::now();
    r = run_bounded(o, true);
    CHECK(r.counts.ok > 0);
    CHECK(seconds_since(started) < 5.0);
  }
}

TEST_CASE("lanes that get no arrival end with the run") {
  test_http_server server({10ms});
  for (const char* threads : {"2", "3", "4"}) {
    INFO(threads << " threads");
    // 1 request/s: lane 0's arrivals are due at 0 s and `threads` s, lane i's first at i s, all
    // after the 200 ms duration or the one-request budget. Neither bound may wait for them.
    const auto started = std::chrono::steady_clock::now();
    bench_result r =
        run_bounded(options_for(server.url(), {"--rate", "1", "--duration", "200ms", "--threads",
                                               threads, "--progress", "50ms"}),
                    true);
    CHECK(r.counts.ok == 1);
    CHECK(seconds_since(started) < 0.9);  // lane 1's first arrival is due at 1 s

    const auto again = std::chrono::steady_clock::now();
    r = run_bounded(
        options_for(server.url(), {"--rate", "1", "--requests", "1", "--threads", threads}));
    CHECK(r.counts.ok == 1);
    CHECK(seconds_since(again) < 0.9);
  }
  CHECK(server.requests() == 6);
}
