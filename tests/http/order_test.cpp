// The order path hands each outcome to an HTTP thread: the gateway's thread that delivers it
// returns before any response is built (base64 and JSON of the PNGs).
#include "http/order.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "tests/support/fake_gateway.hpp"

using muse::http::order_handling;
using muse::http::server_state;
using muse::http::submit_order;

namespace {

// An order the fake gateway holds until the test releases it, on the test's thread.
muse::actors::generate_order held_order(const std::string& id) {
  muse::actors::generate_order order;
  order.id = id;
  order.samples.resize(1);
  order.samples[0].prompt = "hold";
  return order;
}

struct recorded {
  int calls = 0;
  std::thread::id thread;
  size_t images = 0;
};

order_handling recording(recorded& ended, recorded& finished) {
  order_handling handling;
  handling.ended = [&ended](const muse::actors::generate_outcome& outcome) {
    ++ended.calls;
    ended.thread = std::this_thread::get_id();
    ended.images = outcome.images.size();
  };
  handling.finished = [&finished](const muse::actors::generate_outcome& outcome) {
    ++finished.calls;
    finished.thread = std::this_thread::get_id();
    finished.images = outcome.images.size();
  };
  return handling;
}

}  // namespace

TEST_CASE("an outcome is handed to an HTTP thread; the delivering thread only records it",
          "[order]") {
  muse::testing::fake_gateway gateway;
  auto state = std::make_shared<server_state>(muse::config::deployment_config{}, gateway);
  std::vector<std::function<void()>> posted;  // the HTTP threads' queue, run by hand
  state->use_http_threads([&posted](std::function<void()> task) { posted.push_back(task); });

  recorded ended, finished;
  submit_order(state, held_order("order-1"), recording(ended, finished));
  REQUIRE(gateway.wait_held(1, std::chrono::seconds(5)));
  gateway.release_held();  // the outcome is delivered on this thread and the call returns

  CHECK(ended.calls == 1);
  CHECK(ended.thread == std::this_thread::get_id());
  CHECK(finished.calls == 0);  // nothing built yet: it waits for an HTTP thread
  REQUIRE(posted.size() == 1);

  std::thread::id http_thread;
  std::thread http([&] {
    http_thread = std::this_thread::get_id();
    posted[0]();
  });
  http.join();
  CHECK(finished.calls == 1);
  CHECK(finished.thread == http_thread);
  CHECK(finished.images == 1);
  state->release_http_threads();
  CHECK(finished.calls == 1);  // exactly once
}

TEST_CASE("outcomes still queued when the server stops are answered, later ones at once",
          "[order]") {
  muse::testing::fake_gateway gateway;
  auto state = std::make_shared<server_state>(muse::config::deployment_config{}, gateway);
  std::vector<std::function<void()>> posted;
  state->use_http_threads([&posted](std::function<void()> task) { posted.push_back(task); });

  recorded ended, finished;
  submit_order(state, held_order("order-1"), recording(ended, finished));
  REQUIRE(gateway.wait_held(1, std::chrono::seconds(5)));
  gateway.release_held();
  CHECK(finished.calls == 0);
  state->release_http_threads();  // what server::stop does once its grace is over
  CHECK(finished.calls == 1);
  CHECK(finished.thread == std::this_thread::get_id());
  posted.at(0)();  // the io_context's leftover call finds nothing to run
  CHECK(finished.calls == 1);

  recorded ended_late, finished_late;
  submit_order(state, held_order("order-2"), recording(ended_late, finished_late));
  REQUIRE(gateway.wait_held(1, std::chrono::seconds(5)));
  gateway.release_held();
  CHECK(finished_late.calls == 1);
  CHECK(posted.size() == 1);
}

TEST_CASE("an order tied to a connection is cancelled when it closes, not after it ended",
          "[order]") {
  muse::testing::fake_gateway gateway;
  auto state = std::make_shared<server_state>(muse::config::deployment_config{}, gateway);
  recorded ended, finished;
  order_handling handling = recording(ended, finished);
  handling.connection = 7;
  submit_order(state, held_order("order-1"), handling);
  REQUIRE(gateway.wait_held(1, std::chrono::seconds(5)));
  state->connection_closed(7);
  CHECK(gateway.wait_cancelled("order-1", std::chrono::seconds(5)));
  CHECK(ended.calls == 1);     // the fake answers a cancelled held order at once
  CHECK(finished.calls == 1);  // no HTTP threads lent: on the delivering thread

  order_handling second = recording(ended, finished);
  second.connection = 8;
  submit_order(state, held_order("order-2"), second);
  REQUIRE(gateway.wait_held(1, std::chrono::seconds(5)));
  gateway.release_held();
  state->connection_closed(8);
  CHECK_FALSE(gateway.wait_cancelled("order-2", std::chrono::milliseconds(50)));
}
