// Liveness, readiness, Prometheus metrics and JSON stats: what operators and load balancers poll.

#include "http/prometheus_text.hpp"
#include "http/routes.hpp"
#include "http/stats_json.hpp"

namespace muse::http {
namespace {

// Asks the gateway for its stats and answers with `render` of them, from the thread the stats
// arrive on (the gateway calls back; nothing here waits for it).
template <class Render>
void answer_with_stats(const std::shared_ptr<exchange>& ex, Render render) {
  ex->state().gateway.stats([ex, render](actors::stats_reply stats) {
    try {
      render(*ex, stats);
    } catch (const std::exception& e) {
      ex->send_error(api_error(500, "internal", std::string("stats: ") + e.what()));
    }
  });
}

}  // namespace

void add_operations_routes(route_table& table) {
  // Load balancers and orchestrators poll /healthz and /readyz, holding no key.
  table.add(
      "GET", "/healthz",
      [](const std::shared_ptr<exchange>& ex) {
        ex->send_json(200, {{"status", "ok"}});
      },
      route_access::open);

  table.add(
      "GET", "/readyz",
      [](const std::shared_ptr<exchange>& ex) {
        server_state& state = ex->state();
        if (state.draining) throw api_error(503, "shutting_down", "the server is shutting down");
        if (!state.gateway.ready())
          throw api_error(503, "not_ready", "no worker has loaded the model yet");
        ex->send_json(200, {{"status", "ready"}});
      },
      route_access::open);

  table.add("GET", "/metrics", [](const std::shared_ptr<exchange>& ex) {
    answer_with_stats(ex, [](exchange& ex, const actors::stats_reply& stats) {
      ex.send_text(200, prometheus_content_type,
                   render_prometheus(stats, ex.state().metrics.read()));
    });
  });

  table.add("GET", "/api/v1/stats", [](const std::shared_ptr<exchange>& ex) {
    answer_with_stats(ex, [](exchange& ex, const actors::stats_reply& stats) {
      nlohmann::json body = stats_json(stats);
      // The size a request that names none gets: the web page's default choice.
      const auto& config = ex.state().config;
      const auto& model = config.default_model();
      if (auto served = body.find("model"); served != body.end() && served->is_object())
        (*served)["default_size"] = {{"width", model.width}, {"height", model.height}};
      if (auto models = body.find("models"); models != body.end() && models->is_array())
        for (auto& entry : *models)
          if (const auto* configured = config.find_model(entry.value("name", "")))
            entry["default_size"] = {{"width", configured->width}, {"height", configured->height}};
      body["http"] = ex.state().metrics.to_json();
      ex.send_json(200, body);
    });
  });
}

}  // namespace muse::http
