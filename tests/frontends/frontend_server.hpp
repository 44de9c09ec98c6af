#pragma once
// The real HTTP server on an ephemeral loopback port against the fake gateway in its scripted
// mode, and a server-sent-events reader that collects a stream on its own thread.

#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/server_on_fake_gateway.hpp"

namespace muse::testing {

inline config::deployment_config frontend_config() {
  config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.http_threads = 2;
  config.gateway.max_body_bytes = 4096;
  config.gateway.max_prompt_chars = 100;
  config.gateway.request_timeout_s = 30;
  // As the parser holds it: written with a trailing slash, kept without.
  config.gateway.public_url =
      config::parse_config(R"({"gateway": {"public_url": "http://muse.example.org/"}})")
          .gateway.public_url;
  config.models[0].width = 64;
  config.models[0].height = 64;
  config.models[0].fast_steps = 25;
  config.models[0].quality_steps = 50;
  config.models[0].max_images_per_request = 4;
  config.models[0].scheduler = "ddim";
  return config;
}

struct frontend_server : server_on_fake_gateway {
  explicit frontend_server(const config::deployment_config& config = frontend_config())
      : server_on_fake_gateway(config, fake_gateway::answers::scripted) {}
};

// Reads one event stream until it ends (or `stop()`), collecting its text.
class sse_reader {
 public:
  explicit sse_reader(std::string url) : url_(std::move(url)) {
    thread_ = std::thread([this] { run(); });
  }
  ~sse_reader() {
    stop_ = true;
    thread_.join();
  }
  // Waits until the collected text contains `needle`.
  bool wait_for(const std::string& needle,
                std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return text_.find(needle) != std::string::npos; });
  }
  bool wait_ended(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return ended_; });
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mutex_);
    return content_type_;
  }
  long status() {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_;
  }

 private:
  void run() {
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION,
        +[](char* data, size_t size, size_t count, void* self) -> size_t {
          auto* reader = static_cast<sse_reader*>(self);
          std::lock_guard<std::mutex> lock(reader->mutex_);
          reader->text_.append(data, size * count);
          reader->changed_.notify_all();
          return size * count;
        });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(
        curl, CURLOPT_XFERINFOFUNCTION,
        +[](void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
          return static_cast<sse_reader*>(self)->stop_ ? 1 : 0;
        });
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_perform(curl);
    long status = 0;
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = status;
    content_type_ = type ? type : "";
    ended_ = true;
    changed_.notify_all();
    curl_easy_cleanup(curl);
  }

  std::string url_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string text_;
  std::string content_type_;
  long status_ = 0;
  bool ended_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace muse::testing
