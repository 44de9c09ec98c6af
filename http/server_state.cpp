#include "http/server_state.hpp"

#include <future>
#include <vector>

namespace muse::http {

nlohmann::json server_state::gateway_stats() const {
  return std::async(std::launch::async, [this] { return gateway.stats(); }).get();
}

void server_state::order_started(uint64_t connection_id, const std::string& order_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  orders_by_connection_[connection_id].insert(order_id);
}

void server_state::order_finished(uint64_t connection_id, const std::string& order_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = orders_by_connection_.find(connection_id);
  if (it == orders_by_connection_.end()) return;
  it->second.erase(order_id);
  if (it->second.empty()) orders_by_connection_.erase(it);
}

void server_state::connection_closed(uint64_t connection_id) noexcept {
  std::vector<std::string> orphans;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = orders_by_connection_.find(connection_id);
    if (it == orders_by_connection_.end()) return;
    orphans.assign(it->second.begin(), it->second.end());
    orders_by_connection_.erase(it);
  }
  for (const auto& id : orphans) {
    try {
      gateway.cancel(id);
    } catch (...) {
      // The order is answered anyway (exactly once, by the gateway); nobody is left to tell.
    }
  }
}

void server_state::response_pending() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++pending_responses_;
}

void server_state::response_written() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--pending_responses_ <= 0) written_.notify_all();
}

bool server_state::wait_responses_written(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mutex_);
  return written_.wait_for(lock, limit, [&] { return pending_responses_ <= 0; });
}

}  // namespace muse::http
