#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <restinio/all.hpp>
#include <sstream>
#include <stdexcept>

#include "actors/log.hpp"
#include "http/access.hpp"
#include "http/connection_limits.hpp"
#include "http/routes.hpp"

namespace muse::http {
namespace {

std::string address_of(const restinio::endpoint_t& endpoint) {
  return endpoint.address().to_string();
}

// Tells the server state when a connection closes, so the orders it still waits for are cancelled,
// and the connection limits when one opens and closes.
class connection_listener {
 public:
  connection_listener(std::shared_ptr<server_state> state,
                      std::shared_ptr<connection_limits> limits)
      : state_(std::move(state)), limits_(std::move(limits)) {}
  void state_changed(const restinio::connection_state::notice_t& notice) noexcept {
    try {
      if (restinio::holds_alternative<restinio::connection_state::accepted_t>(notice.cause()))
        limits_->opened(notice.connection_id(), address_of(notice.remote_endpoint()));
    } catch (...) {
      // Without memory for the record the connection stays counted: it errs on the safe side.
    }
    if (restinio::holds_alternative<restinio::connection_state::closed_t>(notice.cause())) {
      limits_->closed(notice.connection_id());
      state_->connection_closed(notice.connection_id());
    }
  }

 private:
  std::shared_ptr<server_state> state_;
  std::shared_ptr<connection_limits> limits_;
};

// RESTinio asks it about every accepted socket; a denied one is closed at once. It is what
// limits the connections: RESTinio's own limiter would stop accepting instead, leaving clients
// waiting unanswered in the kernel's backlog.
class connection_gate {
 public:
  explicit connection_gate(std::shared_ptr<connection_limits> limits)
      : limits_(std::move(limits)) {}
  restinio::ip_blocker::inspection_result_t inspect(
      const restinio::ip_blocker::incoming_info_t& incoming) noexcept {
    try {
      if (limits_->admit(address_of(incoming.remote_endpoint())))
        return restinio::ip_blocker::allow();
    } catch (...) {
    }
    return restinio::ip_blocker::deny();
  }

 private:
  std::shared_ptr<connection_limits> limits_;
};

struct server_traits : public restinio::default_traits_t {
  using connection_state_listener_t = connection_listener;
  using ip_blocker_t = connection_gate;
};

using running_server = restinio::running_server_handle_t<server_traits>;

// How far over gateway.max_body_bytes a body may be and still be read, to be answered 413.
constexpr uint64_t oversized_body_answered_bytes = uint64_t(16) << 20;

// What a request must satisfy before any route sees it (RFC 9110): no expectation other than
// 100-continue, a body within gateway.max_body_bytes. Answers close the connection, since what
// follows on it cannot be trusted to be a request. (The HTTP version cannot be checked here:
// RESTinio 0.6 does not pass on the one its parser read; every request says 1.1.)
std::optional<api_error> protocol_problem(const restinio::request_t& request,
                                          const config::gateway_config& gateway) {
  const auto& head = request.header();
  if (head.has_field(restinio::http_field::expect)) {
    std::string expectation = head.get_field(restinio::http_field::expect);
    for (auto& c : expectation) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (expectation != "100-continue")
      return api_error(417, "expectation_failed", "only Expect: 100-continue is understood");
  }
  if (request.body().size() > gateway.max_body_bytes)
    return api_error(413, "payload_too_large",
                     "the body is over " + std::to_string(gateway.max_body_bytes) + " bytes");
  return std::nullopt;
}

// Retry-After's whole seconds: at least 1, so a client that honours it finds a token.
int64_t whole_seconds_until(std::chrono::steady_clock::duration wait) {
  return std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
}

std::string format_rate(const rate_limiter& limits) {
  std::ostringstream text;
  text << limits.per_second() << " per second (bursts of " << limits.burst() << ")";
  return text.str();
}

void serve(const route_table& table, const access_policy& access,
           const std::shared_ptr<server_state>& state, const restinio::request_handle_t& request,
           std::shared_ptr<exchange>& ex) {
  const std::string method = request->header().method().c_str();
  const std::string path(request->header().path());
  const auto& fields = request->header();
  const std::string origin = fields.get_field_or("Origin", "");
  if (auto problem = protocol_problem(*request, state->config.gateway)) {
    ex = std::make_shared<exchange>(request, "unmatched", std::map<std::string, std::string>{},
                                    state);
    ex->close_after_response();
    throw *problem;
  }
  if (method == "OPTIONS" && !origin.empty()) {
    // A CORS preflight: allowed origins get the methods and headers; others get nothing to use.
    ex = std::make_shared<exchange>(request, "preflight", std::map<std::string, std::string>{},
                                    state);
    ex->send_text(204, "text/plain", "", access.preflight_headers(origin));
    return;
  }
  route_match match = table.match(method, path);
  std::string route = match.result == route_match::kind::not_found ? "unmatched" : match.pattern;
  const bool open_route = table.open(match);
  ex = std::make_shared<exchange>(request, route, std::move(match.params), state);
  ex->add_response_headers(access.cors_headers(origin));
  const std::string authorization = fields.get_field_or("Authorization", "");
  const std::string api_key_header = fields.get_field_or("X-API-Key", "");
  if (auto refused = access.check(open_route, authorization, api_key_header)) {
    ex->send_error(*refused, {{"WWW-Authenticate", "Bearer"}});
    return;
  }
  const bool keyed = access.keys_required() && !open_route;
  const std::string key = keyed ? presented_key(authorization, api_key_header) : "";
  if (keyed) ex->set_caller(key_fingerprint(key));
  if (route != "/healthz" && route != "/readyz") {
    // A client is the key it was admitted with, else its address.
    const std::string client =
        keyed ? "key " + key : "address " + address_of(request->remote_endpoint());
    if (auto wait = state->rate_limits.take(client, std::chrono::steady_clock::now())) {
      state->metrics.record_rate_limited();
      const auto retry_s = whole_seconds_until(*wait);
      ex->send_error(api_error(429, "rate_limited",
                               "too many requests from this client: at most " +
                                   format_rate(state->rate_limits) + "; retry in " +
                                   std::to_string(retry_s) + " s"),
                     {{"Retry-After", std::to_string(retry_s)}});
      return;
    }
  }
  switch (match.result) {
    case route_match::kind::not_found:
      throw api_error(404, "not_found", "no route " + path);
    case route_match::kind::method_not_allowed:
      ex->send_error(
          api_error(405, "method_not_allowed", method + " is not allowed on " + match.pattern),
          {{"Allow", match.allow}});
      break;
    case route_match::kind::found:
      table.at(match.index).handler(ex);
      break;
  }
}

// Answers one request, whatever is thrown on the way: an api_error as itself, anything else
// (a fault of the server, never of the client's input) as a logged 500 internal.
restinio::request_handling_status_t dispatch(const route_table& table, const access_policy& access,
                                             const std::shared_ptr<server_state>& state,
                                             const restinio::request_handle_t& request) {
  std::shared_ptr<exchange> ex;
  std::optional<api_error> failure;
  try {
    serve(table, access, state, request, ex);
  } catch (const api_error& error) {
    failure = error;
  } catch (const std::exception& error) {
    actors::log_warning("http", std::string(request->header().method().c_str()) + " " +
                                    std::string(request->header().path()) + ": " + error.what());
    failure = api_error(500, "internal", "internal error");
  } catch (...) {
    actors::log_warning("http", std::string(request->header().method().c_str()) + " " +
                                    std::string(request->header().path()) +
                                    ": an exception of unknown type");
    failure = api_error(500, "internal", "internal error");
  }
  if (!failure) return restinio::request_accepted();
  try {
    if (!ex)
      ex = std::make_shared<exchange>(request, "unmatched", std::map<std::string, std::string>{},
                                      state);
    ex->send_error(*failure);
    return restinio::request_accepted();
  } catch (...) {
    // Not even an error could be made (no memory): RESTinio answers this itself and closes.
    return restinio::request_rejected();
  }
}

}  // namespace

struct server::impl {
  explicit impl(const config::deployment_config& config) : access(config.auth) {}
  access_policy access;
  std::shared_ptr<server_state> state;
  route_table routes;
  std::shared_ptr<connection_limits> connections;
  // The HTTP threads' io_context, ours so that outcomes can be posted to it
  // (server_state::run_on_http_thread); it outlives `running`.
  std::unique_ptr<restinio::asio_ns::io_context> io;
  running_server running;
  std::atomic<uint16_t> bound_port{0};
};

server::server(const config::deployment_config& config, actors::gateway& gateway)
    : impl_(std::make_unique<impl>(config)) {
  impl_->state = std::make_shared<server_state>(config, gateway);
  impl_->connections = std::make_shared<connection_limits>(
      config.gateway.max_connections, config.gateway.max_connections_per_client);
  add_all_routes(impl_->routes, config);
}

server::~server() {
  if (impl_->running) stop(std::chrono::milliseconds(0));
}

void server::start() {
  const auto& gateway_config = impl_->state->config.gateway;
  auto state = impl_->state;
  const route_table* routes = &impl_->routes;
  const access_policy* access = &impl_->access;
  impl* self = impl_.get();
  auto connections = impl_->connections;
  const size_t threads = size_t(std::max(1, gateway_config.http_threads));

  // Bodies over max_body_bytes are answered 413 (and the connection closed) by dispatch, so
  // RESTinio must read them whole first: it reads up to this much more; past that it drops the
  // connection unanswered, as it does any body it will not read. It holds a body in memory, but
  // a connection must send one within read_timeout_s, and one address has
  // max_connections_per_client connections at most.
  const uint64_t transport_body_limit =
      uint64_t(gateway_config.max_body_bytes) + oversized_body_answered_bytes;
  const auto request_timeout = std::chrono::seconds(gateway_config.request_timeout_s);

  auto settings =
      restinio::server_settings_t<server_traits>{}
          .address(gateway_config.host)
          .port(gateway_config.http_port)
          .buffer_size(16 * 1024)
          .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                        .max_url_size(8 * 1024)
                                        .max_field_name_size(1024)
                                        .max_field_value_size(16 * 1024)
                                        .max_field_count(100)
                                        .max_body_size(transport_body_limit))
          // A connection with no request in progress must deliver a whole one (head and body)
          // within this, or it is closed: slow clients cannot hold connections (slowloris), and
          // idle keep-alive connections end.
          .read_next_http_message_timelimit(std::chrono::seconds(gateway_config.read_timeout_s))
          .write_http_response_timelimit(std::chrono::seconds(60))
          // Past the order's deadline the gateway answers 504 itself; this only guards against a
          // response that never comes.
          .handle_request_timeout(request_timeout + std::chrono::seconds(30))
          // A second request slot keeps RESTinio reading while a generation runs, which is how it
          // notices a client that hangs up.
          .max_pipelined_requests(2)
          // gateway.max_connections and max_connections_per_client: see connection_gate.
          .ip_blocker(std::make_shared<connection_gate>(connections))
          .concurrent_accepts_count(threads)
          .separate_accept_and_create_connect(false)
          .acceptor_options_setter([](restinio::acceptor_options_t& options) {
            options.set_option(restinio::asio_ns::ip::tcp::acceptor::reuse_address(true));
          })
          .socket_options_setter([](restinio::socket_options_t& options) {
            // Not thrown: a connection the gate admitted must reach its listener to be counted.
            restinio::asio_ns::error_code ignored;
            options.set_option(restinio::asio_ns::ip::tcp::no_delay(true), ignored);
          })
          .acceptor_post_bind_hook([self](restinio::asio_ns::ip::tcp::acceptor& acceptor) {
            self->bound_port = acceptor.local_endpoint().port();
          })
          .connection_state_listener(std::make_shared<connection_listener>(state, connections))
          .request_handler([routes, access, state](const restinio::request_handle_t& request) {
            return dispatch(*routes, *access, state, request);
          });

  impl_->io = std::make_unique<restinio::asio_ns::io_context>();
  try {
    impl_->running = restinio::run_async(restinio::external_io_context(*impl_->io),
                                         std::move(settings), threads);
    restinio::asio_ns::io_context* io = impl_->io.get();
    state->use_http_threads(
        [io](std::function<void()> task) { restinio::asio_ns::post(*io, std::move(task)); });
  } catch (const std::exception& error) {
    throw std::runtime_error("cannot listen on " + gateway_config.host + ":" +
                             std::to_string(gateway_config.http_port) + ": " + error.what());
  }
}

uint16_t server::port() const { return impl_->bound_port; }

size_t server::open_connections() const { return impl_->connections->open(); }

const std::string& server::host() const { return impl_->state->config.gateway.host; }

void server::drain() { impl_->state->draining = true; }

void server::stop(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  drain();
  if (!impl_->running) return;
  impl_->state->wait_responses_written(grace);
  // Outcomes from now on are answered on the gateway's thread; queued ones here.
  impl_->state->release_http_threads();
  impl_->running->stop();
  impl_->running->wait();
  impl_->running.reset();
  // Webhooks still pending get one more attempt in what is left of the grace.
  impl_->state->webhooks.stop(deadline);
}

}  // namespace muse::http
