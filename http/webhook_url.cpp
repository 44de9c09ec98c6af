#include "http/webhook_url.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "http/api_error.hpp"

namespace muse::http {
namespace {

// Longer URLs are no callback address anyone means to give.
constexpr size_t max_url_chars = 2048;

std::string lowercase(std::string text) {
  for (auto& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// "[::1]" and "::1" name the same host.
std::string bare_host(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    return lowercase(host.substr(1, host.size() - 2));
  return lowercase(host);
}

struct url_handle_deleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using url_handle = std::unique_ptr<CURLU, url_handle_deleter>;

// One part of a parsed URL; "" when the URL has none.
std::string part_of(CURLU* url, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, 0) != CURLUE_OK || text == nullptr) return "";
  std::string out(text);
  curl_free(text);
  return out;
}

api_error refused(const std::string& why) { return invalid_field("webhook", "webhook " + why); }

}  // namespace

std::string checked_webhook_url(const std::string& url,
                                const std::vector<std::string>& allowed_hosts) {
  if (allowed_hosts.empty())
    throw refused("is not accepted: this server allows no webhook hosts (gateway.webhook_hosts)");
  if (url.size() > max_url_chars)
    throw refused("must be at most " + std::to_string(max_url_chars) + " characters");
  // libcurl would guess a scheme, or take "http:///host" for "http://host": the text itself must
  // say http:// or https:// and then the host.
  const std::string start = lowercase(url.substr(0, 8));
  const size_t scheme_end = start.rfind("http://", 0) == 0    ? 7
                            : start.rfind("https://", 0) == 0 ? 8
                                                              : 0;
  if (scheme_end == 0) throw refused("must be an http:// or https:// URL");
  if (scheme_end >= url.size() || url[scheme_end] == '/')
    throw refused("must name a host after " + url.substr(0, scheme_end));
  const size_t authority_end = url.find_first_of("/?#", scheme_end);
  if (url.substr(scheme_end, authority_end - scheme_end).find('@') != std::string::npos)
    throw refused("must not hold a user name or password");

  url_handle parsed(curl_url());
  if (!parsed) throw std::bad_alloc();
  if (CURLUcode code = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0); code != CURLUE_OK)
    throw refused(std::string("is not a valid URL: ") + curl_url_strerror(code));
  if (!part_of(parsed.get(), CURLUPART_USER).empty() ||
      !part_of(parsed.get(), CURLUPART_PASSWORD).empty())
    throw refused("must not hold a user name or password");
  const std::string host = part_of(parsed.get(), CURLUPART_HOST);
  const bool allowed = std::any_of(
      allowed_hosts.begin(), allowed_hosts.end(),
      [&](const std::string& allowed_host) { return bare_host(allowed_host) == bare_host(host); });
  if (!allowed)
    throw refused("host \"" + host + "\" is not one this server posts to (gateway.webhook_hosts)");
  return part_of(parsed.get(), CURLUPART_URL);
}

}  // namespace muse::http
