#pragma once
// A fake Slack on 127.0.0.1 (an ephemeral port): the Web API methods the gateway uses
// (files.getUploadURLExternal, files.completeUploadExternal), the upload URL they hand out, and
// a command's response_url. It records every call; the tests check each one.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>
#include <string>
#include <vector>

namespace muse::testing {

struct slack_call {
  std::string path;
  std::string authorization;
  std::string content_type;
  std::string body;
};

class fake_slack {
 public:
  fake_slack() {
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
  ~fake_slack() {
    server_->stop();
    server_->wait();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_.load()) + path;
  }
  // Waits until `count` calls arrived; returns them all.
  std::vector<slack_call> wait_calls(size_t count,
                                     std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return calls_.size() >= count; });
    return calls_;
  }
  std::vector<slack_call> calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  // Makes files.completeUploadExternal answer {"ok": false, "error": ...}.
  std::atomic<bool> refuse_complete{false};

 private:
  restinio::request_handling_status_t handle(const restinio::request_handle_t& request) {
    const std::string path(request->header().path());
    slack_call call{path, std::string(request->header().get_field_or("Authorization", "")),
                    std::string(request->header().get_field_or("Content-Type", "")),
                    request->body()};
    std::string answer = "ok";
    std::string type = "text/plain";
    if (path == "/api/files.getUploadURLExternal") {
      type = "application/json";
      answer =
          nlohmann::json{{"ok", true}, {"upload_url", url("/upload/F123")}, {"file_id", "F123"}}
              .dump();
    } else if (path == "/api/files.completeUploadExternal") {
      type = "application/json";
      answer = refuse_complete ? R"({"ok": false, "error": "not_in_channel"})"
                               : R"({"ok": true, "files": [{"id": "F123"}]})";
    } else if (path == "/upload/F123") {
      answer = "OK - " + std::to_string(request->body().size());
    } else if (path != "/response") {
      request->create_response(restinio::status_not_found()).done();
      record(std::move(call));
      return restinio::request_accepted();
    }
    request->create_response()
        .append_header(restinio::http_field::content_type, type)
        .set_body(answer)
        .done();
    record(std::move(call));
    return restinio::request_accepted();
  }
  void record(slack_call call) {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(std::move(call));
    changed_.notify_all();
  }

  std::atomic<uint16_t> port_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<slack_call> calls_;
  restinio::running_server_handle_t<restinio::default_traits_t> server_;
};

}  // namespace muse::testing
