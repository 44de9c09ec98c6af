#pragma once
// A small blocking HTTP client over libcurl for tests, plus a raw-socket sender for requests
// curl would never send (malformed HTTP, a client that hangs up).

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace muse::testing {

struct http_response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased
};

// One part of a multipart/form-data body, as libcurl's MIME API sends it: a file when `filename`
// is set.
struct form_field {
  form_field(std::string name, std::string value, std::string filename = "",
             std::string content_type = "")
      : name(std::move(name)),
        value(std::move(value)),
        filename(std::move(filename)),
        content_type(std::move(content_type)) {}
  std::string name;
  std::string value;
  std::string filename;
  std::string content_type;
};

// `form`, when given, is sent as multipart/form-data (libcurl makes the boundary and the framing)
// instead of `body`.
inline http_response http_request(const std::string& method, const std::string& url,
                                  const std::string& body = "",
                                  const std::vector<std::string>& headers = {}, long timeout_s = 60,
                                  const std::vector<form_field>* form = nullptr) {
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  http_response response;
  auto write_body = +[](char* data, size_t size, size_t count, void* out) -> size_t {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  auto write_header = +[](char* data, size_t size, size_t count, void* out) -> size_t {
    std::string line(data, size * count);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(value.begin());
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
      (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
    }
    return size * count;
  };
  struct curl_slist* header_list = nullptr;
  for (const auto& h : headers) header_list = curl_slist_append(header_list, h.c_str());
  if (method == "POST" || !body.empty()) {
    bool typed = form != nullptr;
    for (const auto& h : headers) typed |= h.compare(0, 13, "Content-Type:") == 0;
    if (!typed) header_list = curl_slist_append(header_list, "Content-Type: application/json");
    header_list = curl_slist_append(header_list, "Expect:");
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_mime* mime = nullptr;
  if (form) {
    mime = curl_mime_init(curl);
    for (const auto& field : *form) {
      curl_mimepart* part = curl_mime_addpart(mime);
      curl_mime_name(part, field.name.c_str());
      curl_mime_data(part, field.value.data(), field.value.size());
      if (!field.filename.empty()) curl_mime_filename(part, field.filename.c_str());
      if (!field.content_type.empty()) curl_mime_type(part, field.content_type.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  } else if (method == "POST" || !body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, write_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(header_list);
  curl_easy_cleanup(curl);
  curl_mime_free(mime);
  if (code != CURLE_OK) throw std::runtime_error(std::string("curl: ") + curl_easy_strerror(code));
  return response;
}

// A TCP connection to 127.0.0.1:port for hand-written bytes.
class raw_connection {
 public:
  // `source`: the client's own loopback address (any of 127.0.0.0/8), to look like another client.
  explicit raw_connection(uint16_t port, int read_timeout_s = 5, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ >= 0 && source) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
        throw std::runtime_error(std::string("cannot bind to ") + source);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
    timeval timeout{read_timeout_s, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~raw_connection() { close(); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  void send(const std::string& bytes) {
    if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != ssize_t(bytes.size()))
      throw std::runtime_error("send failed");
  }
  // Everything until the peer closes or the read timeout passes without data.
  std::string read_all() {
    std::string out;
    char buffer[4096];
    for (;;) {
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got == 0 || (got < 0 && errno == ECONNRESET)) peer_closed_ = true;
      if (got <= 0) return out;
      out.append(buffer, size_t(got));
    }
  }
  // Whether the last read_all() ended because the peer closed (not because the timeout passed).
  bool peer_closed() const { return peer_closed_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool peer_closed_ = false;
};

}  // namespace muse::testing
