// Synchronous generation: the request waits for its images. The handler validates, submits one
// order to the gateway and returns at once; the gateway's outcome callback (an actor thread)
// writes the response.

#include <chrono>

#include "http/base64.hpp"
#include "http/generate_request.hpp"
#include "http/random_ids.hpp"
#include "http/routes.hpp"

namespace muse::http {
namespace {

using parse_function = generate_request (*)(const std::string&, const request_rules&, uint64_t);
using shape_function = nlohmann::json (*)(const actors::generate_outcome&, const generate_request&);

nlohmann::json generate_shape(const actors::generate_outcome& outcome,
                              const generate_request& request) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& image : outcome.images)
    images.push_back({{"png_base64", base64_encode(image.png)}, {"seed", image.seed}});
  return {{"id", outcome.id},
          {"images", std::move(images)},
          {"steps", outcome.steps > 0 ? outcome.steps : request.steps},
          {"timings",
           {{"queue_ms", outcome.queue_ms},
            {"inference_ms", outcome.inference_ms},
            {"total_ms", outcome.total_ms}}}};
}

nlohmann::json predict_shape(const actors::generate_outcome& outcome, const generate_request&) {
  return {{"image", "data:image/png;base64," + base64_encode(outcome.images.front().png)}};
}

// A full queue comes from a burst; a client that waits a second lets the batches drain it.
constexpr const char* retry_after_s = "1";

void answer(const std::shared_ptr<exchange>& ex, const actors::generate_outcome& outcome,
            const generate_request& request, shape_function shape) {
  header_list headers = {{"X-Request-Id", outcome.id}};
  if (outcome.error) {
    if (*outcome.error == actors::failure::queue_full)
      headers.emplace_back("Retry-After", retry_after_s);
    std::string message =
        outcome.message.empty() ? actors::to_string(*outcome.error) : outcome.message;
    ex->send_error(error_for(*outcome.error, message), headers);
    return;
  }
  if (outcome.images.size() != request.samples.size()) {
    ex->send_error(api_error(500, "internal",
                             "the gateway returned " + std::to_string(outcome.images.size()) +
                                 " images for " + std::to_string(request.samples.size())),
                   headers);
    return;
  }
  ex->send_json(200, shape(outcome, request), headers);
}

void serve_order(const std::shared_ptr<exchange>& ex, parse_function parse, shape_function shape) {
  server_state& state = ex->state();
  state.admit_generation();
  generate_request request = parse(ex->body(), state.generation_rules(), state.draw_seed());
  actors::generate_order order = state.new_order(request);

  const uint64_t connection = ex->connection_id();
  const std::string id = order.id;
  state.order_started(connection, id);
  try {
    state.gateway.submit(std::move(order), [ex, connection, id, request = std::move(request),
                                            shape](actors::generate_outcome outcome) {
      ex->state().order_finished(connection, id);
      answer(ex, outcome, request, shape);
    });
  } catch (...) {
    state.order_finished(connection, id);
    throw;
  }
}

route_handler order_route(parse_function parse, shape_function shape) {
  return [parse, shape](const std::shared_ptr<exchange>& ex) { serve_order(ex, parse, shape); };
}

}  // namespace

void add_generate_routes(route_table& table) {
  table.add("POST", "/api/v1/generate", order_route(parse_generate_request, generate_shape));
  table.add("POST", "/api/predict", order_route(parse_predict_request, predict_shape));
}

}  // namespace muse::http
