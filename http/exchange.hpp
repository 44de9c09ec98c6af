#pragma once
// One HTTP request and its one response. Routes get a shared exchange, may keep it past their
// return (answering later from another thread), and answer it exactly once; a second answer is
// ignored. It records the response in the HTTP metrics and tells the server when the response
// is written. An exchange dropped unanswered answers 500, so no client waits forever.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>
#include <string>
#include <utility>
#include <vector>

#include "http/api_error.hpp"
#include "http/server_state.hpp"

namespace muse::http {

using header_list = std::vector<std::pair<std::string, std::string>>;

class exchange {
 public:
  exchange(restinio::request_handle_t request, std::string route,
           std::map<std::string, std::string> params, std::shared_ptr<server_state> state);
  ~exchange();
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;

  const restinio::request_t& request() const { return *request_; }
  const std::string& body() const { return request_->body(); }
  // The Content-Type header's value; empty when there is none.
  std::string content_type() const;
  const std::map<std::string, std::string>& params() const { return params_; }
  uint64_t connection_id() const { return request_->connection_id(); }
  server_state& state() const { return *state_; }
  // Who calls: the fingerprint of the API key the request was admitted with (access.hpp); ""
  // when the server has no keys or the route needs none. Set by the dispatch before the route.
  const std::string& caller() const { return caller_; }
  void set_caller(std::string caller) { caller_ = std::move(caller); }
  const std::shared_ptr<server_state>& shared_state() const { return state_; }

  void send_json(int status, const nlohmann::json& body, const header_list& headers = {});
  void send_text(int status, const std::string& content_type, std::string body,
                 const header_list& headers = {});
  void send_error(const api_error& error, const header_list& headers = {});
  bool answered() const { return answered_; }

  // Headers every response of this exchange carries (CORS), set before the route runs.
  void add_response_headers(const header_list& headers);
  // The connection is closed once the response is written.
  void close_after_response() { close_after_response_ = true; }

  // A response written in parts (server-sent events): counts the exchange as answered with
  // `status` now and hands over the request; whoever writes the stream calls
  // state->response_written() once its last part is out.
  struct stream_start {
    restinio::request_handle_t request;
    std::shared_ptr<server_state> state;
    header_list headers;  // those of add_response_headers()
  };
  stream_start start_stream(int status);

 private:
  restinio::request_handle_t request_;
  std::string route_;
  std::map<std::string, std::string> params_;
  std::shared_ptr<server_state> state_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<bool> answered_{false};
  header_list extra_headers_;
  bool close_after_response_ = false;
  std::string caller_;
};

const char* reason_phrase(int status);

}  // namespace muse::http
