#pragma once
// A small, strict, incremental HTTP/1.1 response parser: status line, headers, then a body framed
// by Content-Length, chunked transfer coding, or the end of the connection. The body is counted,
// not kept (image responses are large and only their arrival matters), except a short prefix of
// error bodies so a failing run can say why.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace muse::bench {

struct protocol_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class response_parser {
 public:
  // Consumes bytes of one response; returns how many it used (fewer than `size` only once the
  // response is complete). Throws protocol_error on anything malformed.
  size_t feed(const char* data, size_t size);

  // The peer closed the connection: completes a body framed by the close, else throws.
  void end_of_stream();

  bool done() const { return state_ == state::done; }
  bool started() const { return started_; }
  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  uint64_t body_bytes() const { return body_bytes_; }
  const std::string& body_prefix() const { return body_prefix_; }

  void reset() { *this = response_parser(); }

  static constexpr size_t max_head_bytes = 64 * 1024;
  static constexpr size_t kept_error_body_bytes = 300;

 private:
  enum class state {
    head,
    body_length,
    body_until_close,
    chunk_size,
    chunk_data,
    chunk_data_end,
    trailers,
    done
  };

  void parse_head();
  void parse_status_line(const std::string& line);
  void parse_header(const std::string& line);
  void parse_chunk_size(const std::string& line);
  void keep_body(const char* data, size_t size);
  // Takes one CRLF-terminated line from the input into `line_`; false when more bytes are needed.
  bool take_line(const char*& data, const char* end);

  state state_ = state::head;
  bool started_ = false;
  std::string head_;
  std::string line_;
  int status_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t length_ = 0;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  std::string body_prefix_;
};

}  // namespace muse::bench
