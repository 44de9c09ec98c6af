#pragma once
// The one path of every route that generates (native, jobs, OpenAI, Slack): the front end reads
// its input into generate_fields; here they are validated once against the served model, with a
// seed drawn for a request that names none; one order is submitted; and its outcome is handed to
// an HTTP thread, never handled on the gateway's actor thread that delivers it, where base64 and
// JSON of large PNGs would hold up the actors. What differs between front ends is a parameter:
// the response's shape (synchronous routes) or what is done with the outcome (jobs, Slack).

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "actors/gateway.hpp"
#include "http/exchange.hpp"
#include "http/generate_request.hpp"
#include "http/server_state.hpp"

namespace muse::http {

// `fields` against the served model's limits and the config, with a freshly drawn seed.
generate_request validate_order(const server_state& state, const generate_fields& fields);

// What becomes of an order's outcome.
struct order_handling {
  // The client waits on this connection: its going away cancels the order.
  std::optional<uint64_t> connection;
  // Steps done, in order, on the gateway's thread: bookkeeping only.
  actors::progress_callback progress;
  // The outcome as delivered, on the gateway's thread: bookkeeping only (a job's state), nothing
  // that encodes images.
  std::function<void(const actors::generate_outcome&)> ended;
  // Then the outcome on an HTTP thread (server_state::run_on_http_thread): where responses are
  // built. Each of the three is optional; the outcome comes exactly once.
  std::function<void(const actors::generate_outcome&)> finished;
};

// Submits `order` to the gateway. Throws what the gateway's submit throws, with nothing left
// behind; neither `ended` nor `finished` is called then.
void submit_order(const std::shared_ptr<server_state>& state, actors::generate_order order,
                  order_handling handling);

// How a route whose client waits answers a finished order.
struct response_shape {
  // The 200's body, once every image asked for came back.
  std::function<nlohmann::json(const actors::generate_outcome&, const generate_request&)> body;
  // Sends an error in the front end's shape; the native {"error": {code, message, field?}} when
  // empty. `headers` carry X-Request-Id, and Retry-After for a full queue.
  std::function<void(exchange&, const api_error&, const header_list&)> send_error;
};

// The synchronous path, once the route has admitted the request (server_state::admit_generation)
// and read its fields: validates them, submits the order tied to the client's connection, and
// answers `ex` exactly once in `shape` when the order ends.
void answer_order(const std::shared_ptr<exchange>& ex, const generate_fields& fields,
                  response_shape shape);

}  // namespace muse::http
