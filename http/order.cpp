#include "http/order.hpp"

#include <algorithm>
#include <stdexcept>

#include "http/a1111_request.hpp"
#include "http/png_parameters.hpp"

namespace muse::http {
namespace {

// A full queue comes from a burst; a client that waits a second lets the batches drain it.
constexpr const char* retry_after_s = "1";

void send_in_shape(exchange& ex, const response_shape& shape, const api_error& error,
                   const header_list& headers) {
  if (shape.send_error)
    shape.send_error(ex, error, headers);
  else
    ex.send_error(error, headers);
}

void answer(exchange& ex, const response_shape& shape, const actors::generate_outcome& outcome,
            const generate_request& request) {
  header_list headers = {{"X-Request-Id", outcome.id}};
  if (outcome.error) {
    if (*outcome.error == actors::failure::queue_full)
      headers.emplace_back("Retry-After", retry_after_s);
    std::string message =
        outcome.message.empty() ? actors::to_string(*outcome.error) : outcome.message;
    send_in_shape(ex, shape, error_for(*outcome.error, message), headers);
    return;
  }
  if (outcome.images.size() != request.samples.size()) {
    send_in_shape(ex, shape,
                  api_error(500, "internal",
                            "the gateway returned " + std::to_string(outcome.images.size()) +
                                " images for " + std::to_string(request.samples.size())),
                  headers);
    return;
  }
  ex.send_json(200, shape.body(outcome, request), headers);
}

// Each sample's A1111 "parameters" text (png_parameters.hpp), or none when the config says so.
std::vector<std::string> parameters_of(const server_state& state,
                                       const actors::generate_order& order) {
  std::vector<std::string> texts;
  if (!state.config.gateway.png_parameters) return texts;
  const std::string& model = order.model.empty() ? state.config.default_model().name : order.model;
  for (const auto& sample : order.samples) texts.push_back(png_parameters(sample, model));
  return texts;
}

// A worker's images are PNGs; anything else (a test's stand-in) is passed on as it came.
void write_parameters(actors::generate_outcome& outcome, const std::vector<std::string>& texts) {
  if (outcome.error || outcome.images.size() != texts.size()) return;
  for (size_t i = 0; i < texts.size(); ++i) {
    try {
      outcome.images[i].png = with_png_text(outcome.images[i].png, "parameters", texts[i]);
    } catch (const std::invalid_argument&) {
    }
  }
}

}  // namespace

generate_request validate_order(const server_state& state, const generate_fields& fields) {
  return validate_generate_fields(fields, state.generation_rules(fields.model), state.draw_seed());
}

void submit_order(const std::shared_ptr<server_state>& state, actors::generate_order order,
                  order_handling handling) {
  const std::string id = order.id;
  const auto connection = handling.connection;
  std::vector<std::string> parameters = parameters_of(*state, order);
  int total = 0;
  for (const auto& sample : order.samples) total = std::max(total, denoising_steps(sample));
  state->running.submitted(id, total, order.samples.size());
  if (connection) state->order_started(*connection, id);
  try {
    state->gateway.submit(
        std::move(order),
        [state, connection, id, parameters = std::move(parameters),
         ended = std::move(handling.ended),
         finished = std::move(handling.finished)](actors::generate_outcome outcome) {
          state->running.ended(id);
          if (connection) state->order_finished(*connection, id);
          write_parameters(outcome, parameters);
          if (ended) ended(outcome);
          if (finished)
            state->run_on_http_thread(
                [finished, outcome = std::move(outcome)] { finished(outcome); });
        },
        [state, id, progress = std::move(handling.progress)](const actors::order_progress& p) {
          state->running.stepped(id, p.step, p.total);
          if (progress) progress(p);
        });
  } catch (...) {
    state->running.ended(id);
    if (connection) state->order_finished(*connection, id);
    throw;
  }
}

void answer_order(const std::shared_ptr<exchange>& ex, const generate_fields& fields,
                  response_shape shape) {
  server_state& state = ex->state();
  generate_request request = validate_order(state, fields);
  actors::generate_order order = state.new_order(request);
  order_handling handling;
  handling.connection = ex->connection_id();
  handling.finished = [ex, request,
                       shape = std::move(shape)](const actors::generate_outcome& outcome) {
    answer(*ex, shape, outcome, request);
  };
  submit_order(ex->shared_state(), std::move(order), std::move(handling));
}

}  // namespace muse::http
