#pragma once
// A webhook receiver on 127.0.0.1 (an ephemeral port) for the delivery tests: it records every
// request and answers each with the next status of its script (200 once the script runs out).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <restinio/all.hpp>
#include <string>
#include <vector>

namespace muse::testing {

struct received_webhook {
  std::string method;
  std::string path;
  std::string content_type;
  std::string timestamp;  // X-Muse-Request-Timestamp
  std::string signature;  // X-Muse-Signature
  std::string body;
  std::chrono::steady_clock::time_point at;
};

class webhook_receiver {
 public:
  explicit webhook_receiver(std::vector<int> statuses = {})
      : statuses_(statuses.begin(), statuses.end()) {
    auto settings = restinio::server_settings_t<>{}
                        .address("127.0.0.1")
                        .port(0)
                        .acceptor_post_bind_hook([this](restinio::asio_ns::ip::tcp::acceptor& a) {
                          port_ = a.local_endpoint().port();
                        })
                        .request_handler([this](const restinio::request_handle_t& request) {
                          return handle(request);
                        });
    server_ = restinio::run_async(restinio::own_io_context(), std::move(settings), 1);
  }
  ~webhook_receiver() {
    server_->stop();
    server_->wait();
  }
  webhook_receiver(const webhook_receiver&) = delete;
  webhook_receiver& operator=(const webhook_receiver&) = delete;

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_.load()) + path;
  }
  // Waits until `count` requests arrived (or `limit` passed); returns them all.
  std::vector<received_webhook> wait_calls(
      size_t count, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return calls_.size() >= count; });
    return calls_;
  }
  std::vector<received_webhook> calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  restinio::request_handling_status_t handle(const restinio::request_handle_t& request) {
    const auto& head = request->header();
    received_webhook call{head.method().c_str(),
                          std::string(head.path()),
                          head.get_field_or("Content-Type", ""),
                          head.get_field_or("X-Muse-Request-Timestamp", ""),
                          head.get_field_or("X-Muse-Signature", ""),
                          request->body(),
                          std::chrono::steady_clock::now()};
    int status = 200;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!statuses_.empty()) {
        status = statuses_.front();
        statuses_.pop_front();
      }
      calls_.push_back(std::move(call));
      changed_.notify_all();
    }
    request
        ->create_response(restinio::http_status_line_t(
            restinio::http_status_code_t(uint16_t(status)), status < 300 ? "OK" : "Error"))
        .set_body("")
        .done();
    return restinio::request_accepted();
  }

  std::atomic<uint16_t> port_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<int> statuses_;
  std::vector<received_webhook> calls_;
  restinio::running_server_handle_t<restinio::default_traits_t> server_;
};

}  // namespace muse::testing
