#pragma once
// The server's one list of routes. add_all_routes() is the only place that names the families of
// routes the server has; each family adds its routes to the table with their method, pattern,
// handler and whether API keys guard them. server.cpp serves the table; the route index in
// http/README.md is checked against it (tests/http/routes_test.cpp).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster_config/config.hpp"
#include "http/exchange.hpp"
#include "http/router.hpp"

namespace muse::http {

using route_handler = std::function<void(const std::shared_ptr<exchange>&)>;

// Whether a route needs an API key when auth.api_keys_env is set.
enum class route_access {
  api_key,
  // Never: health checks, the Slack route (Slack signs its requests), image URLs (their token is
  // the credential) and the web page's files (the page asks for a key when the API wants one).
  open,
};

struct route_entry {
  std::string method;
  std::string pattern;
  route_access access = route_access::api_key;
  route_handler handler;
};

class route_table {
 public:
  // Throws std::invalid_argument for a bad pattern or a route added twice (see router::add).
  void add(const std::string& method, const std::string& pattern, route_handler handler,
           route_access access = route_access::api_key);

  route_match match(const std::string& method, const std::string& path) const {
    return paths_.match(method, path);
  }
  const route_entry& at(size_t index) const { return entries_.at(index); }
  // Whether a request needs no key: the route it matched is open, or, when it matched a pattern
  // for other methods only, one of those is. A path that matches nothing is not open.
  bool open(const route_match& match) const;
  const std::vector<route_entry>& entries() const { return entries_; }

 private:
  router paths_;
  std::vector<route_entry> entries_;  // by route index
};

// Every route of the server, with the stores they share sized by `config`.
void add_all_routes(route_table& table, const config::deployment_config& config);

// The families add_all_routes() is made of.
// POST /api/v1/generate, POST /api/predict.
void add_generate_routes(route_table& table);
// GET /healthz, /readyz, /metrics, /api/v1/stats.
void add_operations_routes(route_table& table);
// GET /v1/models (OpenAI's list), GET /api/v1/models (each model with its limits).
void add_model_routes(route_table& table);

}  // namespace muse::http
