#include "tools/bench/response_parser.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace muse::bench {
namespace {

constexpr size_t max_line_bytes = 8 * 1024;

std::string lower(std::string text) {
  for (auto& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool is_token(const std::string& name) {
  static const char* const extra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(extra, c) != nullptr;
  });
}

// Comma-separated header values compared case-insensitively, as Connection lists are.
bool lists(const std::string& value, const std::string& token) {
  size_t start = 0;
  const std::string v = lower(value);
  while (start <= v.size()) {
    const auto comma = v.find(',', start);
    const std::string item =
        trim(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (item == token) return true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return false;
}

}  // namespace

bool response_parser::take_line(const char*& data, const char* end) {
  const char* newline = static_cast<const char*>(std::memchr(data, '\n', size_t(end - data)));
  const char* stop = newline ? newline + 1 : end;
  line_.append(data, stop);
  data = stop;
  if (line_.size() > max_line_bytes) throw protocol_error("a response line is over 8 KiB");
  if (!newline) return false;
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r')
    throw protocol_error("a response line does not end in CRLF");
  line_.resize(line_.size() - 2);
  return true;
}

size_t response_parser::feed(const char* data, size_t size) {
  const char* const begin = data;
  const char* const end = data + size;
  if (size > 0) started_ = true;
  while (data < end && state_ != state::done) {
    switch (state_) {
      case state::head: {
        // Find the blank line; the head is parsed whole.
        const size_t before = head_.size();
        head_.append(data, end);
        const auto blank = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (blank == std::string::npos) {
          if (head_.size() > max_head_bytes)
            throw protocol_error("the response head is over 64 KiB");
          data = end;
          break;
        }
        data += (blank + 4) - before;
        head_.resize(blank + 2);
        parse_head();
        break;
      }
      case state::body_length: {
        const size_t take = size_t(std::min<uint64_t>(remaining_, uint64_t(end - data)));
        keep_body(data, take);
        data += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = state::done;
        break;
      }
      case state::body_until_close:
        keep_body(data, size_t(end - data));
        data = end;
        break;
      case state::chunk_size:
        if (take_line(data, end)) parse_chunk_size(line_), line_.clear();
        break;
      case state::chunk_data: {
        const size_t take = size_t(std::min<uint64_t>(remaining_, uint64_t(end - data)));
        keep_body(data, take);
        data += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = state::chunk_data_end;
        break;
      }
      case state::chunk_data_end:
        if (take_line(data, end)) {
          if (!line_.empty()) throw protocol_error("a chunk is longer than its size says");
          state_ = state::chunk_size;
        }
        break;
      case state::trailers:
        if (take_line(data, end)) {
          if (line_.empty())
            state_ = state::done;
          else
            line_.clear();
        }
        break;
      case state::done:
        break;
    }
  }
  return size_t(data - begin);
}

void response_parser::end_of_stream() {
  if (state_ == state::body_until_close) {
    state_ = state::done;
    keep_alive_ = false;
    return;
  }
  if (state_ != state::done)
    throw protocol_error("the connection closed before the response was complete");
}

void response_parser::parse_head() {
  size_t start = 0;
  bool first = true;
  while (start < head_.size()) {
    const auto crlf = head_.find("\r\n", start);
    const std::string line = head_.substr(start, crlf - start);
    start = crlf + 2;
    if (first)
      parse_status_line(line);
    else
      parse_header(line);
    first = false;
  }
  head_.clear();
  // Interim responses (100 Continue, 103 Early Hints) precede the real one.
  if (status_ >= 100 && status_ < 200) {
    if (status_ == 101) throw protocol_error("the server switched protocols");
    *this = response_parser();
    started_ = true;
    return;
  }
  if (http10_) keep_alive_ = false;
  const bool no_body = status_ == 204 || status_ == 304;
  if (no_body) {
    state_ = state::done;
  } else if (chunked_) {
    state_ = state::chunk_size;
  } else if (has_length_) {
    remaining_ = length_;
    state_ = length_ == 0 ? state::done : state::body_length;
  } else {
    state_ = state::body_until_close;
    keep_alive_ = false;
  }
}

void response_parser::parse_status_line(const std::string& line) {
  // HTTP/1.1 200 OK (the reason phrase may be empty)
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0 || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' '))
    throw protocol_error("bad status line '" + line.substr(0, 80) + "'");
  const std::string version = line.substr(5, 3);
  if (version == "1.0")
    http10_ = true;
  else if (version != "1.1")
    throw protocol_error("unsupported HTTP version in '" + line.substr(0, 80) + "'");
  const std::string code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      code[0] == '0')
    throw protocol_error("bad status code in '" + line.substr(0, 80) + "'");
  status_ = std::stoi(code);
}

void response_parser::parse_header(const std::string& line) {
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t'))
    throw protocol_error("folded header lines are obsolete");
  const auto colon = line.find(':');
  if (colon == std::string::npos)
    throw protocol_error("header without a colon: '" + line.substr(0, 80) + "'");
  const std::string name = line.substr(0, colon);
  if (!is_token(name)) throw protocol_error("bad header name '" + name.substr(0, 80) + "'");
  const std::string key = lower(name);
  const std::string value = trim(line.substr(colon + 1));
  if (key == "content-length") {
    if (value.empty() || value.size() > 18 ||
        value.find_first_not_of("0123456789") != std::string::npos)
      throw protocol_error("bad Content-Length '" + value + "'");
    const uint64_t length = std::stoull(value);
    if (has_length_ && length != length_)
      throw protocol_error("conflicting Content-Length headers");
    has_length_ = true;
    length_ = length;
  } else if (key == "transfer-encoding") {
    // chunked must be the final coding; anything else cannot be framed.
    const std::string v = lower(value);
    const auto last_comma = v.rfind(',');
    const std::string final_coding =
        trim(last_comma == std::string::npos ? v : v.substr(last_comma + 1));
    if (final_coding != "chunked")
      throw protocol_error("unsupported Transfer-Encoding '" + value + "'");
    chunked_ = true;
  } else if (key == "connection") {
    if (lists(value, "close"))
      keep_alive_ = false;
    else if (lists(value, "keep-alive"))
      keep_alive_ = true;
  }
  if (chunked_ && has_length_) throw protocol_error("both Content-Length and Transfer-Encoding");
}

void response_parser::parse_chunk_size(const std::string& line) {
  const std::string size_text =
      trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
  if (size_text.empty() || size_text.size() > 15 ||
      size_text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    throw protocol_error("bad chunk size '" + line.substr(0, 80) + "'");
  remaining_ = std::stoull(size_text, nullptr, 16);
  state_ = remaining_ == 0 ? state::trailers : state::chunk_data;
}

void response_parser::keep_body(const char* data, size_t size) {
  body_bytes_ += size;
  if (status_ >= 400 && body_prefix_.size() < kept_error_body_bytes)
    body_prefix_.append(data, std::min(size, kept_error_body_bytes - body_prefix_.size()));
}

}  // namespace muse::bench
