#pragma once
// One keep-alive client connection: sends a request, reads its response, reports how it went.
// It connects lazily (first request, or after the server closed it) and enforces one deadline
// over the whole exchange, connect included. Not thread-safe: it lives on one io_context thread.

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "tools/bench/response_parser.hpp"

namespace muse::bench {

enum class exchange_kind {
  ok,                // 2xx
  http_error,        // any other status
  connect_error,     // refused, unreachable
  connection_error,  // reset or closed mid-exchange
  timeout,
  protocol_error,  // the response was not valid HTTP/1.1
};

struct exchange_result {
  exchange_kind kind = exchange_kind::ok;
  int status = 0;
  std::string detail;  // error text or the start of an error body
};

class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  using done_handler = std::function<void(const exchange_result&)>;

  http_connection(asio::io_context& io, asio::ip::tcp::endpoint endpoint,
                  std::chrono::nanoseconds timeout);

  // One exchange at a time; `done` runs exactly once, on this connection's io_context.
  void send(std::shared_ptr<const std::string> request, done_handler done);
  void close();

 private:
  void connect();
  void write();
  void read();
  void on_read(const asio::error_code& error, size_t bytes);
  bool retry_on_fresh_connection();
  void fail(exchange_kind kind, const std::string& detail);
  void finish(exchange_result result);

  asio::ip::tcp::socket socket_;
  asio::steady_timer deadline_;
  asio::ip::tcp::endpoint endpoint_;
  std::chrono::nanoseconds timeout_;
  std::shared_ptr<const std::string> request_;
  done_handler done_;
  response_parser parser_;
  std::unique_ptr<char[]> buffer_;
  bool timed_out_ = false;
  bool reused_ = false;   // this exchange runs on a connection that served an earlier one
  bool retried_ = false;  // a stale keep-alive connection is retried once, on a fresh one
  uint64_t exchange_ = 0;
  static constexpr size_t buffer_bytes = 8 * 1024;
};

}  // namespace muse::bench
