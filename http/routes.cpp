#include "http/routes.hpp"

#include "http/frontend_routes.hpp"

namespace muse::http {

void route_table::add(const std::string& method, const std::string& pattern, route_handler handler,
                      route_access access) {
  size_t index = paths_.add(method, pattern);
  entries_.resize(index + 1);
  entries_[index] = route_entry{method, pattern, access, std::move(handler)};
}

bool route_table::open(const route_match& match) const {
  switch (match.result) {
    case route_match::kind::found:
      return entries_.at(match.index).access == route_access::open;
    case route_match::kind::method_not_allowed:
      for (const auto& entry : entries_)
        if (entry.pattern == match.pattern && entry.access == route_access::open) return true;
      return false;
    case route_match::kind::not_found:
      return false;
  }
  return false;
}

void add_all_routes(route_table& table, const config::deployment_config& config) {
  add_generate_routes(table);
  add_operations_routes(table);
  add_model_routes(table);

  const auto& g = config.gateway;
  auto jobs = std::make_shared<job_store>(std::chrono::seconds(g.job_retention_s), g.max_jobs);
  // A few hundred default-size PNGs; URLs are for handing images over, not for storage.
  constexpr size_t image_bytes = size_t(256) << 20;
  auto images = std::make_shared<image_store>(std::chrono::seconds(g.image_url_ttl_s), image_bytes);
  add_job_routes(table, jobs);
  add_image_routes(table, images);
  add_openai_routes(table, images);
  add_a1111_routes(table);
  add_web_routes(table);
  add_slack_routes(table, images);
}

}  // namespace muse::http
