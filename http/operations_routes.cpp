// Liveness, readiness, Prometheus metrics and JSON stats: what operators and load balancers poll.

#include "http/prometheus_text.hpp"
#include "http/routes.hpp"

namespace muse::http {

void add_operations_routes(route_table& table) {
  table.add("GET", "/healthz", [](const std::shared_ptr<exchange>& ex) {
    ex->send_json(200, {{"status", "ok"}});
  });

  table.add("GET", "/readyz", [](const std::shared_ptr<exchange>& ex) {
    server_state& state = ex->state();
    if (state.draining) throw api_error(503, "shutting_down", "the server is shutting down");
    if (!state.gateway.ready())
      throw api_error(503, "not_ready", "no worker has loaded the model yet");
    ex->send_json(200, {{"status", "ready"}});
  });

  table.add("GET", "/metrics", [](const std::shared_ptr<exchange>& ex) {
    server_state& state = ex->state();
    ex->send_text(200, prometheus_content_type,
                  render_prometheus(state.gateway_stats(), state.metrics.read()));
  });

  table.add("GET", "/api/v1/stats", [](const std::shared_ptr<exchange>& ex) {
    server_state& state = ex->state();
    nlohmann::json stats = state.gateway_stats();
    if (!stats.is_object()) stats = nlohmann::json::object();
    stats["http"] = state.metrics.to_json();
    ex->send_json(200, stats);
  });
}

}  // namespace muse::http
