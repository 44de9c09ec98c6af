#include "http/sse_stream.hpp"

namespace muse::http {

sse_stream::sse_stream(restinio::request_handle_t request, std::shared_ptr<server_state> state,
                       const std::vector<std::pair<std::string, std::string>>& headers)
    : state_(std::move(state)) {
  try {
    response_.emplace(request->create_response<restinio::chunked_output_t>());
    response_->append_header(restinio::http_field::content_type, "text/event-stream");
    response_->append_header(restinio::http_field::cache_control, "no-store");
    // Proxies such as nginx buffer responses unless told not to; events must arrive as they happen.
    response_->append_header("X-Accel-Buffering", "no");
    for (const auto& [name, value] : headers) response_->append_header(name, value);
    response_->flush();
  } catch (...) {
    response_.reset();
    state_->response_written();
  }
}

sse_stream::~sse_stream() { close(); }

void sse_stream::send(const std::string& event, const std::string& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!response_) return;
  try {
    response_->append_chunk("event: " + event + "\ndata: " + data + "\n\n");
    response_->flush();
  } catch (...) {
    // The connection is gone; the job goes on, and the client may poll it.
  }
}

void sse_stream::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!response_) return;
  auto state = state_;
  try {
    response_->done([state](const auto&) { state->response_written(); });
  } catch (...) {
    state->response_written();
  }
  response_.reset();
}

}  // namespace muse::http
