#include "http/access.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace muse::http {

bool constant_time_equal(const std::string& a, const std::string& b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= unsigned(x ^ y);
  }
  return diff == 0;
}

std::string key_fingerprint(const std::string& key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

namespace {

std::string trim(const std::string& text) {
  const char* space = " \t\r\n";
  size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

}  // namespace

access_policy::access_policy(const config::auth_config& auth)
    : keys_(config::api_keys_from_env(auth)), origins_(auth.cors_origins) {}

std::string presented_key(const std::string& authorization, const std::string& api_key_header) {
  std::string presented = trim(api_key_header);
  const std::string bearer = "Bearer ";
  if (presented.empty() && authorization.size() > bearer.size() &&
      std::equal(bearer.begin(), bearer.end(), authorization.begin(),
                 [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
    presented = trim(authorization.substr(bearer.size()));
  return presented;
}

std::optional<api_error> access_policy::check(bool open_route, const std::string& authorization,
                                              const std::string& api_key_header) const {
  if (keys_.empty() || open_route) return std::nullopt;
  const std::string presented = presented_key(authorization, api_key_header);
  if (presented.empty())
    return api_error(401, "unauthorized",
                     "an API key is required: Authorization: Bearer KEY or X-API-Key: KEY");
  // Every key is compared, so the time does not tell which one came close.
  bool match = false;
  for (const auto& key : keys_) match |= constant_time_equal(presented, key);
  if (!match) return api_error(401, "unauthorized", "the API key is not valid");
  return std::nullopt;
}

bool access_policy::origin_allowed(const std::string& origin) const {
  if (origin.empty()) return false;
  for (const auto& allowed : origins_)
    if (allowed == "*" || allowed == origin) return true;
  return false;
}

std::vector<std::pair<std::string, std::string>> access_policy::cors_headers(
    const std::string& origin) const {
  if (!origin_allowed(origin)) return {};
  // "*" in the config answers "*": no origin is ever reflected.
  const bool any = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Access-Control-Allow-Origin", any ? "*" : origin},
      {"Access-Control-Expose-Headers", "X-Request-Id, Location, Retry-After"}};
  if (!any) headers.emplace_back("Vary", "Origin");
  return headers;
}

std::vector<std::pair<std::string, std::string>> access_policy::preflight_headers(
    const std::string& origin) const {
  auto headers = cors_headers(origin);
  if (headers.empty()) return headers;
  headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  headers.emplace_back("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type");
  headers.emplace_back("Access-Control-Max-Age", "600");
  return headers;
}

}  // namespace muse::http
