// The served models: GET /v1/models (OpenAI's list) and GET /api/v1/models (each with what a
// request may ask of it).

#include "http/routes.hpp"
#include "http/stats_json.hpp"

namespace muse::http {
namespace {

using nlohmann::json;

// One model as GET /api/v1/models shows it: the config's defaults and the bounds, and the limits
// its workers report once one has loaded it (null before: the gateway knows them only then).
json model_entry(const config::model_config& model, const actors::model_figures* figures,
                 bool is_default) {
  const bool loaded = figures != nullptr && figures->limits.has_value();
  json entry = {{"name", model.name},
                {"default", is_default},
                {"type", model.type},
                {"ready", figures != nullptr && figures->ready_workers > 0},
                {"ready_workers", figures != nullptr ? figures->ready_workers : 0},
                {"default_size", {{"width", model.width}, {"height", model.height}}},
                {"steps",
                 {{"fast", model.fast_steps},
                  {"quality", model.quality_steps},
                  {"max", loaded ? json(figures->limits->max_steps) : json(nullptr)}}},
                {"default_scheduler", model.scheduler},
                {"schedulers", loaded ? json(figures->limits->schedulers) : json(nullptr)},
                {"guidance_scale", model.guidance_scale},
                {"max_images_per_request", model.max_images_per_request},
                {"workers", {{"min", model.min_workers}, {"max", model.max_workers}}},
                {"limits", loaded ? limits_json(*figures->limits) : json(nullptr)}};
  return entry;
}

}  // namespace

void add_model_routes(route_table& table) {
  table.add("GET", "/v1/models", [](const std::shared_ptr<exchange>& ex) {
    json data = json::array();
    for (const auto& model : ex->state().config.models)
      data.push_back(
          {{"id", model.name}, {"object", "model"}, {"created", 0}, {"owned_by", "muse"}});
    ex->send_json(200, {{"object", "list"}, {"data", data}});
  });

  table.add("GET", "/api/v1/models", [](const std::shared_ptr<exchange>& ex) {
    // The limits come with the stats, answered from an actor thread; nothing here waits.
    ex->state().gateway.stats([ex](actors::stats_reply reply) {
      try {
        const auto& config = ex->state().config;
        json models = json::array();
        for (const auto& model : config.models) {
          const actors::model_figures* figures = nullptr;
          if (reply.snapshot)
            for (const auto& m : reply.snapshot->models)
              if (m.name == model.name) figures = &m;
          models.push_back(model_entry(model, figures, &model == &config.default_model()));
        }
        ex->send_json(200, {{"default", config.default_model().name}, {"models", models}});
      } catch (const std::exception& e) {
        ex->send_error(api_error(500, "internal", std::string("models: ") + e.what()));
      }
    });
  });
}

}  // namespace muse::http
