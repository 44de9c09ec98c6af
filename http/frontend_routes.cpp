#include "http/frontend_routes.hpp"

namespace muse::http {

void add_image_routes(route_table& table, std::shared_ptr<image_store> images) {
  table.add(
      "GET", "/api/v1/images/{token}",
      [images](const std::shared_ptr<exchange>& ex) {
        auto png = images->get(ex->params().at("token"));
        if (!png) throw api_error(404, "not_found", "no such image (unknown, or its URL expired)");
        ex->send_text(200, "image/png", std::move(*png));
      },
      route_access::open);
}

}  // namespace muse::http
