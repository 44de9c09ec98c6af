// Synchronous generation: the request waits for its images. The handler reads the body and hands
// it to the order path (order.hpp), which answers once the order ends; here are only the shapes
// of the two routes' answers.

#include "http/base64.hpp"
#include "http/form_request.hpp"
#include "http/generate_request.hpp"
#include "http/order.hpp"
#include "http/routes.hpp"

namespace muse::http {
namespace {

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
  const auto& image = outcome.images.front();
  return {{"image", "data:image/png;base64," + base64_encode(image.png)}, {"seed", image.seed}};
}

// (Content-Type, body) -> fields.
using read_function = generate_fields (*)(const std::string&, const std::string&);
using shape_function = nlohmann::json (*)(const actors::generate_outcome&, const generate_request&);

route_handler order_route(read_function read, shape_function shape) {
  return [read, shape](const std::shared_ptr<exchange>& ex) {
    ex->state().admit_generation();
    answer_order(ex, read(ex->content_type(), ex->body()), response_shape{shape, {}});
  };
}

}  // namespace

void add_generate_routes(route_table& table) {
  table.add("POST", "/api/v1/generate",
            order_route(
                [](const std::string& content_type, const std::string& body) {
                  return read_generate_input(content_type, body, native_route::generate);
                },
                generate_shape));
  // The seed's route reads JSON whatever the Content-Type says, as the seed's server did.
  table.add("POST", "/api/predict",
            order_route(
                [](const std::string&, const std::string& body) { return read_predict_body(body); },
                predict_shape));
}

}  // namespace muse::http
