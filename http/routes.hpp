#pragma once
// The server's routes: each folder of routes adds itself to one table, so a new family of routes
// is one more add_*_routes() call in server.cpp.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/exchange.hpp"
#include "http/router.hpp"

namespace muse::http {

using route_handler = std::function<void(const std::shared_ptr<exchange>&)>;

struct route_table {
  router paths;
  std::vector<route_handler> handlers;  // by route index

  void add(const std::string& method, const std::string& pattern, route_handler handler) {
    size_t index = paths.add(method, pattern);
    handlers.resize(index + 1);
    handlers[index] = std::move(handler);
  }
};

// POST /api/v1/generate, POST /api/predict.
void add_generate_routes(route_table& table);
// GET /healthz, /readyz, /metrics, /api/v1/stats.
void add_operations_routes(route_table& table);

}  // namespace muse::http
