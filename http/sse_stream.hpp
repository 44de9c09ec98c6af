#pragma once
// One server-sent-events response (text/event-stream), written in chunks from any thread as
// events happen. The server counts it as a pending response until close(), so a stopping server
// lets it finish within its grace time.

#include <memory>
#include <mutex>
#include <optional>
#include <restinio/all.hpp>
#include <string>

#include "http/server_state.hpp"

namespace muse::http {

class sse_stream {
 public:
  // Takes over `request` (whose exchange has been marked answered) and sends the headers.
  sse_stream(restinio::request_handle_t request, std::shared_ptr<server_state> state,
             const std::vector<std::pair<std::string, std::string>>& headers);
  ~sse_stream();
  sse_stream(const sse_stream&) = delete;
  sse_stream& operator=(const sse_stream&) = delete;

  // "event: <name>\ndata: <data>\n\n"; ignored once closed. `data` must hold no newline.
  void send(const std::string& event, const std::string& data);
  // Ends the response; later calls do nothing.
  void close();

 private:
  std::mutex mutex_;
  std::optional<restinio::response_builder_t<restinio::chunked_output_t>> response_;
  std::shared_ptr<server_state> state_;
};

}  // namespace muse::http
