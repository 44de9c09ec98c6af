#pragma once
// How many HTTP connections are open, in all and by client address. A new connection is let in
// only while both stay under their limits (gateway.max_connections, max_connections_per_client);
// the server closes the others at once, so that past the limit a client is told at once instead
// of waiting in the kernel's backlog, and one address cannot hold every connection. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace muse::http {

class connection_limits {
 public:
  connection_limits(size_t max_total, size_t max_per_client)
      : max_total_(max_total), max_per_client_(max_per_client) {}

  // A connection from `address` was accepted: true, and it counts from now on, when both limits
  // let it in; false when it must be closed.
  bool admit(const std::string& address);
  // The admitted connection from `address` has its id: closed(id) will end its count.
  void opened(uint64_t connection_id, const std::string& address);
  void closed(uint64_t connection_id);

  size_t open() const;
  size_t open_from(const std::string& address) const;
  uint64_t refused() const;

 private:
  void release(const std::string& address);

  const size_t max_total_;
  const size_t max_per_client_;
  mutable std::mutex mutex_;
  size_t total_ = 0;
  std::map<std::string, size_t> by_address_;
  std::map<uint64_t, std::string> address_of_;
  uint64_t refused_ = 0;
};

}  // namespace muse::http
