#include "http/connection_limits.hpp"

namespace muse::http {

bool connection_limits::admit(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t& from_address = by_address_[address];
  if (total_ >= max_total_ || from_address >= max_per_client_) {
    if (from_address == 0) by_address_.erase(address);
    ++refused_;
    return false;
  }
  ++total_;
  ++from_address;
  return true;
}

void connection_limits::opened(uint64_t connection_id, const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  address_of_[connection_id] = address;
}

void connection_limits::closed(uint64_t connection_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = address_of_.find(connection_id);
  // A connection's close may be told more than once; it counted once.
  if (it == address_of_.end()) return;
  release(it->second);
  address_of_.erase(it);
}

void connection_limits::release(const std::string& address) {
  if (total_ > 0) --total_;
  auto it = by_address_.find(address);
  if (it == by_address_.end()) return;
  if (--it->second == 0) by_address_.erase(it);
}

size_t connection_limits::open() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return total_;
}

size_t connection_limits::open_from(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second;
}

uint64_t connection_limits::refused() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refused_;
}

}  // namespace muse::http
