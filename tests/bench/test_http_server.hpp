#pragma once
// A small HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for the load-loop tests: it answers
// every request after a fixed delay, in the framing a test asks for, and records what it saw
// (requests, their arrival times, how many were in progress at once).

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace muse::bench::testing {

// close_after says Connection: close; silent_close closes without saying so.
enum class framing { content_length, chunked, close_after, silent_close };

struct server_behaviour {
  std::chrono::milliseconds delay{0};
  int status = 200;
  framing frame = framing::content_length;
  std::string body = R"({"images":[{"png_base64":"iVBORw0KGgo=","seed":1}]})";
  // Hold every request until the test calls release_held(): the test, not the scheduler, then
  // decides when responses go out.
  bool held = false;
};

class test_http_server {
 public:
  explicit test_http_server(server_behaviour behaviour)
      : behaviour_(std::move(behaviour)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~test_http_server() {
    io_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  size_t requests() const { return requests_.load(); }
  size_t connections() const { return connections_.load(); }
  size_t max_in_progress() const { return max_in_progress_.load(); }
  size_t in_progress() const { return in_progress_.load(); }
  // Answers every request held so far (with `held`), on the server's thread.
  void release_held() {
    asio::post(io_, [this] {
      for (auto& c : held_) c->respond();
      held_.clear();
    });
  }
  std::vector<std::string> heads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return heads_;
  }
  std::vector<std::string> bodies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }
  std::vector<std::chrono::steady_clock::time_point> arrivals() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_;
  }

 private:
  struct served_connection : std::enable_shared_from_this<served_connection> {
    served_connection(test_http_server& s, asio::ip::tcp::socket sock)
        : server(s), socket(std::move(sock)), timer(s.io_) {}

    void read_head() {
      asio::async_read_until(socket, buffer, "\r\n\r\n",
                             [self = shared_from_this()](asio::error_code e, size_t n) {
                               if (e) return;
                               std::string head(asio::buffers_begin(self->buffer.data()),
                                                asio::buffers_begin(self->buffer.data()) + long(n));
                               self->buffer.consume(n);
                               size_t length = 0;
                               const auto at = head.find("Content-Length: ");
                               if (at != std::string::npos)
                                 length = std::stoul(head.substr(at + 16));
                               self->read_body(std::move(head), length);
                             });
    }

    void read_body(std::string head, size_t length) {
      const size_t have = buffer.size();
      asio::async_read(
          socket, buffer, asio::transfer_exactly(length > have ? length - have : 0),
          [self = shared_from_this(), head = std::move(head), length](asio::error_code e, size_t) {
            if (e) return;
            std::string body(asio::buffers_begin(self->buffer.data()),
                             asio::buffers_begin(self->buffer.data()) + long(length));
            self->buffer.consume(length);
            self->server.received(head, body);
            if (self->server.behaviour_.held) return self->server.held_.push_back(self);
            self->timer.expires_after(self->server.behaviour_.delay);
            self->timer.async_wait([self](asio::error_code) { self->respond(); });
          });
    }

    void respond() {
      const auto& b = server.behaviour_;
      std::string out =
          "HTTP/1.1 " + std::to_string(b.status) + " Status\r\nContent-Type: application/json\r\n";
      if (b.frame == framing::chunked) {
        const size_t half = b.body.size() / 2;
        char first[32], second[32];
        std::snprintf(first, sizeof first, "%zx", half);
        std::snprintf(second, sizeof second, "%zx", b.body.size() - half);
        out += "Transfer-Encoding: chunked\r\n\r\n" + std::string(first) + "\r\n" +
               b.body.substr(0, half) + "\r\n" + second + "\r\n" + b.body.substr(half) +
               "\r\n0\r\n\r\n";
      } else {
        out += "Content-Length: " + std::to_string(b.body.size()) + "\r\n";
        if (b.frame == framing::close_after) out += "Connection: close\r\n";
        out += "\r\n" + b.body;
      }
      response = std::move(out);
      server.finished();
      asio::async_write(socket, asio::buffer(response),
                        [self = shared_from_this()](asio::error_code e, size_t) {
                          if (e) return;
                          const framing frame = self->server.behaviour_.frame;
                          if (frame == framing::close_after || frame == framing::silent_close) {
                            asio::error_code ignored;
                            self->socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                            return;
                          }
                          self->read_head();
                        });
    }

    test_http_server& server;
    asio::ip::tcp::socket socket;
    asio::steady_timer timer;
    asio::streambuf buffer;
    std::string response;
  };

  void accept() {
    port_ = acceptor_.local_endpoint().port();
    acceptor_.async_accept([this](asio::error_code e, asio::ip::tcp::socket socket) {
      if (e) return;
      ++connections_;
      std::make_shared<served_connection>(*this, std::move(socket))->read_head();
      accept();
    });
  }

  void received(const std::string& head, const std::string& body) {
    ++requests_;
    const size_t now = ++in_progress_;
    size_t seen = max_in_progress_.load();
    while (now > seen && !max_in_progress_.compare_exchange_weak(seen, now)) {
    }
    std::lock_guard<std::mutex> lock(mutex_);
    heads_.push_back(head);
    bodies_.push_back(body);
    arrivals_.push_back(std::chrono::steady_clock::now());
  }
  void finished() { --in_progress_; }

  server_behaviour behaviour_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<size_t> requests_{0}, connections_{0}, in_progress_{0}, max_in_progress_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> heads_, bodies_;
  std::vector<std::chrono::steady_clock::time_point> arrivals_;
  std::vector<std::shared_ptr<served_connection>> held_;  // the server's thread only
};

}  // namespace muse::bench::testing
