#include "http/exchange.hpp"

namespace muse::http {

exchange::exchange(restinio::request_handle_t request, std::string route,
                   std::map<std::string, std::string> params, std::shared_ptr<server_state> state)
    : request_(std::move(request)),
      route_(std::move(route)),
      params_(std::move(params)),
      state_(std::move(state)),
      started_(std::chrono::steady_clock::now()) {
  state_->metrics.request_started();
  state_->response_pending();
}

exchange::~exchange() {
  if (!answered_) send_error(api_error(500, "internal", "the request was dropped unanswered"));
}

std::string exchange::content_type() const {
  return request_->header().get_field_or(restinio::http_field::content_type, "");
}

void exchange::send_text(int status, const std::string& content_type, std::string body,
                         const header_list& headers) {
  if (answered_.exchange(true)) return;
  state_->metrics.record(route_, status, std::chrono::steady_clock::now() - started_);
  state_->metrics.request_finished();
  auto state = state_;
  try {
    auto response = request_->create_response(restinio::http_status_line_t(
        restinio::http_status_code_t(uint16_t(status)), reason_phrase(status)));
    response.append_header(restinio::http_field::content_type, content_type);
    response.append_header(restinio::http_field::cache_control, "no-store");
    for (const auto& [name, value] : headers) response.append_header(name, value);
    for (const auto& [name, value] : extra_headers_) response.append_header(name, value);
    if (state_->draining || close_after_response_) response.connection_close();
    response.set_body(std::move(body));
    // The connection calls back once the bytes are out, or with an error when they never will be.
    response.done([state](const auto&) { state->response_written(); });
  } catch (...) {
    state->response_written();
  }
}

void exchange::add_response_headers(const header_list& headers) {
  extra_headers_.insert(extra_headers_.end(), headers.begin(), headers.end());
}

exchange::stream_start exchange::start_stream(int status) {
  if (answered_.exchange(true)) throw std::logic_error("the exchange was answered already");
  state_->metrics.record(route_, status, std::chrono::steady_clock::now() - started_);
  state_->metrics.request_finished();
  return {request_, state_, extra_headers_};
}

void exchange::send_json(int status, const nlohmann::json& body, const header_list& headers) {
  send_text(status, "application/json",
            body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), headers);
}

void exchange::send_error(const api_error& error, const header_list& headers) {
  send_json(error.status(), error.body(), headers);
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

}  // namespace muse::http
