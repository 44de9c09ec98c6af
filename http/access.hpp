#pragma once
// Who may call the API: optional API keys and CORS. Keys come from the environment variable the
// config names (comma-separated), presented as "Authorization: Bearer KEY" or "X-API-Key: KEY"
// and compared in constant time. Which routes stay open is said where they are added
// (route_access in routes.hpp). CORS is off unless the config lists origins; only a listed
// Origin is ever echoed back. Knows nothing of RESTinio.

#include <optional>
#include <string>
#include <vector>

#include "cluster_config/config.hpp"
#include "http/api_error.hpp"

namespace muse::http {

// Equal strings, in time that depends on their lengths only.
bool constant_time_equal(const std::string& a, const std::string& b);

// What is kept of a key to tell whose a job is: its SHA-256 in lowercase hex, never the key.
std::string key_fingerprint(const std::string& key);

// The key a request presents: its X-API-Key header, else its "Authorization: Bearer KEY"; ""
// when it presents none.
std::string presented_key(const std::string& authorization, const std::string& api_key_header);

class access_policy {
 public:
  // Reads the keys from the environment now. Throws std::runtime_error when api_keys_env names a
  // variable that is unset or holds no key: a server meant to be closed must not start open.
  explicit access_policy(const config::auth_config& auth);

  bool keys_required() const { return !keys_.empty(); }
  // nullopt when the request may go on; else the 401 to answer. `open_route`: the request's
  // route needs no key.
  std::optional<api_error> check(bool open_route, const std::string& authorization,
                                 const std::string& api_key_header) const;

  // Headers for a response to a request from `origin` ("" when it sent none).
  std::vector<std::pair<std::string, std::string>> cors_headers(const std::string& origin) const;
  // A CORS preflight (OPTIONS with Origin) from an allowed origin gets these extra headers.
  std::vector<std::pair<std::string, std::string>> preflight_headers(
      const std::string& origin) const;

 private:
  bool origin_allowed(const std::string& origin) const;
  std::vector<std::string> keys_;
  std::vector<std::string> origins_;
};

}  // namespace muse::http
