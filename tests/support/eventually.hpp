#pragma once
// Waiting for something another thread or process does, bounded in time.

#include <chrono>
#include <thread>

namespace muse::testing {

// Polls `done` every `every` until it holds (true) or `limit` passes (false). In-process state
// is cheap to poll; a process asked over HTTP is polled every 50 ms or so, not to load it.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(10),
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

}  // namespace muse::testing
