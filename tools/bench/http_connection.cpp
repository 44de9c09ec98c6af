#include "tools/bench/http_connection.hpp"

namespace muse::bench {

http_connection::http_connection(asio::io_context& io, asio::ip::tcp::endpoint endpoint,
                                 std::chrono::nanoseconds timeout)
    : socket_(io),
      deadline_(io),
      endpoint_(std::move(endpoint)),
      timeout_(timeout),
      buffer_(new char[buffer_bytes]) {}

void http_connection::send(std::shared_ptr<const std::string> request, done_handler done) {
  request_ = std::move(request);
  done_ = std::move(done);
  parser_.reset();
  timed_out_ = false;
  retried_ = false;
  const uint64_t exchange = ++exchange_;
  deadline_.expires_after(timeout_);
  deadline_.async_wait([self = shared_from_this(), exchange](const asio::error_code& error) {
    if (error || exchange != self->exchange_ || !self->done_) return;
    // Closing makes the pending operation complete with an error, which reports the timeout.
    self->timed_out_ = true;
    asio::error_code ignored;
    self->socket_.close(ignored);
  });
  if (socket_.is_open()) {
    reused_ = true;
    write();
  } else {
    reused_ = false;
    connect();
  }
}

void http_connection::close() {
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void http_connection::connect() {
  socket_.async_connect(endpoint_, [self = shared_from_this()](const asio::error_code& error) {
    if (self->timed_out_) return self->fail(exchange_kind::timeout, "timed out connecting");
    if (error) return self->fail(exchange_kind::connect_error, error.message());
    asio::error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    self->write();
  });
}

void http_connection::write() {
  asio::async_write(socket_, asio::buffer(*request_),
                    [self = shared_from_this()](const asio::error_code& error, size_t) {
                      if (self->timed_out_)
                        return self->fail(exchange_kind::timeout, "timed out sending");
                      if (error) {
                        if (self->retry_on_fresh_connection()) return;
                        return self->fail(exchange_kind::connection_error, error.message());
                      }
                      self->read();
                    });
}

void http_connection::read() {
  socket_.async_read_some(asio::buffer(buffer_.get(), buffer_bytes),
                          [self = shared_from_this()](const asio::error_code& error, size_t bytes) {
                            self->on_read(error, bytes);
                          });
}

bool http_connection::retry_on_fresh_connection() {
  // A kept-alive connection the server closed while idle fails before any response byte: the
  // request is sent again, once, on a new connection.
  if (!reused_ || retried_ || parser_.started()) return false;
  retried_ = true;
  reused_ = false;
  close();
  connect();
  return true;
}

void http_connection::on_read(const asio::error_code& error, size_t bytes) {
  if (timed_out_) return fail(exchange_kind::timeout, "timed out waiting for the response");
  if (bytes > 0) {
    try {
      if (parser_.feed(buffer_.get(), bytes) < bytes)
        throw protocol_error("bytes after the end of the response");
    } catch (const protocol_error& e) {
      return fail(exchange_kind::protocol_error, e.what());
    }
  }
  if (!parser_.done() && error) {
    if (retry_on_fresh_connection()) return;
    if (error != asio::error::eof) return fail(exchange_kind::connection_error, error.message());
    try {
      parser_.end_of_stream();
    } catch (const protocol_error& e) {
      return fail(exchange_kind::connection_error, e.what());
    }
  }
  if (!parser_.done()) return read();
  if (!parser_.keep_alive()) close();
  exchange_result result;
  result.status = parser_.status();
  if (result.status >= 200 && result.status < 300) {
    result.kind = exchange_kind::ok;
  } else {
    result.kind = exchange_kind::http_error;
    result.detail = parser_.body_prefix();
  }
  finish(std::move(result));
}

void http_connection::fail(exchange_kind kind, const std::string& detail) {
  close();
  exchange_result result;
  result.kind = kind;
  result.detail = detail;
  finish(std::move(result));
}

void http_connection::finish(exchange_result result) {
  deadline_.cancel();
  request_.reset();
  done_handler done = std::move(done_);
  done_ = nullptr;
  done(result);
}

}  // namespace muse::bench
