// The web page: GET / is index.html, GET /api-docs the API's page (api-docs.html, which reads
// openapi.json); every other file by its name.

#include "http/frontend_routes.hpp"
#include "http/web_assets.hpp"

namespace muse::http {

void add_web_routes(route_table& table) {
  for (const web_asset& asset : web_assets()) {
    auto serve = [&asset](const std::shared_ptr<exchange>& ex) {
      ex->send_text(200, asset.content_type, asset.body);
    };
    table.add("GET", asset.path, serve, route_access::open);
    if (asset.path == "/index.html") table.add("GET", "/", serve, route_access::open);
    if (asset.path == "/api-docs.html") table.add("GET", "/api-docs", serve, route_access::open);
  }
}

}  // namespace muse::http
