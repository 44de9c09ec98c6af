#include "http/frontend_routes.hpp"

namespace muse::http {

void add_image_routes(route_table& table, std::shared_ptr<image_store> images) {
  table.add("GET", "/api/v1/images/{token}", [images](const std::shared_ptr<exchange>& ex) {
    auto png = images->get(ex->params().at("token"));
    if (!png) throw api_error(404, "not_found", "no such image (unknown, or its URL expired)");
    ex->send_text(200, "image/png", std::move(*png));
  });
}

void add_frontend_routes(route_table& table, const config::deployment_config& config) {
  const auto& g = config.gateway;
  auto jobs = std::make_shared<job_store>(std::chrono::seconds(g.job_retention_s), g.max_jobs);
  // A few hundred default-size PNGs; URLs are for handing images over, not for storage.
  constexpr size_t image_bytes = size_t(256) << 20;
  auto images = std::make_shared<image_store>(std::chrono::seconds(g.image_url_ttl_s), image_bytes);
  add_job_routes(table, jobs);
  add_image_routes(table, images);
  add_openai_routes(table, images);
  add_web_routes(table);
  add_slack_routes(table, images);
}

}  // namespace muse::http
