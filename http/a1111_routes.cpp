// AUTOMATIC1111's web UI API, enough of it for the clients written against it to use the gateway
// unchanged: txt2img and img2img (bodies translated into the native request's fields, taking the
// one order path of order.hpp, answered in A1111's shape), the progress of what runs, and the
// model and samplers lists. Errors keep the native shape with A1111's field names (a1111_request).

#include <cmath>
#include <ctime>

#include "http/a1111_request.hpp"
#include "http/frontend_routes.hpp"
#include "http/order.hpp"

namespace muse::http {
namespace {

void send_a1111_error(exchange& ex, const api_error& error, const header_list& headers) {
  ex.send_json(error.status(), a1111_error_body(error), headers);
}

route_handler generate_route(a1111_route route) {
  return [route](const std::shared_ptr<exchange>& ex) {
    try {
      server_state& state = ex->state();
      state.admit_generation();
      a1111_request translated =
          translate_a1111_request(ex->body(), route, state.generation_rules());
      response_shape shape;
      shape.body = [translated](const actors::generate_outcome& outcome,
                                const generate_request& request) {
        return a1111_images_body(translated, request, outcome, request.model);
      };
      shape.send_error = send_a1111_error;
      answer_order(ex, translated.fields, std::move(shape));
    } catch (const api_error& error) {
      send_a1111_error(*ex, error, {});
    }
  };
}

std::string utc_timestamp(std::chrono::system_clock::time_point at) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &utc);
  return text;
}

// A1111's answer for its one queue: the order this gateway reports (running_orders::current),
// as one job of `sampling_steps` steps; idle is progress 0 and job_count 0.
nlohmann::json progress_body(const std::optional<running_orders::order>& current) {
  nlohmann::json state = {
      {"skipped", false}, {"interrupted", false},         {"stopping_generation", false},
      {"job", ""},        {"job_count", current ? 1 : 0}, {"job_timestamp", "0"},
      {"job_no", 0},      {"sampling_step", 0},           {"sampling_steps", 0}};
  if (!current)
    return {{"progress", 0},       {"eta_relative", 0},
            {"state", state},      {"current_image", nullptr},
            {"textinfo", nullptr}, {"current_task", nullptr}};
  const int total = std::max(current->total, 1);
  const int step = std::min(current->step, total);
  const double progress = double(step) / total;
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - current->submitted).count();
  // A1111's estimate: the time so far, scaled to the whole, less the time so far.
  const double eta_s = progress > 0 ? elapsed_s / progress - elapsed_s : 0;
  state["job"] = current->id;
  state["job_timestamp"] = utc_timestamp(current->submitted_at);
  state["sampling_step"] = step;
  state["sampling_steps"] = total;
  const std::string text = current->running()
                               ? "Step " + std::to_string(step) + "/" + std::to_string(total)
                               : "Waiting...";
  return {{"progress", std::round(progress * 1e4) / 1e4},
          {"eta_relative", std::round(eta_s * 1e3) / 1e3},
          {"state", std::move(state)},
          {"current_image", nullptr},
          {"textinfo", text},
          {"current_task", current->id}};
}

}  // namespace

void add_a1111_routes(route_table& table) {
  table.add("POST", "/sdapi/v1/txt2img", generate_route(a1111_route::txt2img));
  table.add("POST", "/sdapi/v1/img2img", generate_route(a1111_route::img2img));
  // skip_current_image and id_live_preview are accepted: no preview image is ever sent.
  table.add("GET", "/sdapi/v1/progress", [](const std::shared_ptr<exchange>& ex) {
    ex->send_json(200, progress_body(ex->state().running.current()));
  });
  table.add("GET", "/sdapi/v1/sd-models", [](const std::shared_ptr<exchange>& ex) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& model : ex->state().config.models)
      list.push_back({{"title", model.name},
                      {"model_name", model.name},
                      {"hash", nullptr},
                      {"sha256", nullptr},
                      {"filename", model.name},
                      {"config", nullptr}});
    ex->send_json(200, list);
  });
  table.add("GET", "/sdapi/v1/samplers", [](const std::shared_ptr<exchange>& ex) {
    server_state& state = ex->state();
    if (!state.gateway.ready())
      throw api_error(503, "no_worker", "no worker has loaded the model yet");
    const auto limits = state.gateway.limits();
    const auto schedulers = limits.schedulers.empty()
                                ? std::vector<std::string>{state.config.default_model().scheduler}
                                : limits.schedulers;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& sampler : a1111_samplers_of(schedulers))
      list.push_back({{"name", sampler.name},
                      {"aliases", sampler.aliases},
                      {"options", nlohmann::json::object()}});
    ex->send_json(200, list);
  });
}

}  // namespace muse::http
