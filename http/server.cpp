#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <restinio/all.hpp>
#include <stdexcept>

#include "http/access.hpp"
#include "http/frontend_routes.hpp"
#include "http/routes.hpp"

namespace muse::http {
namespace {

// Tells the server state when a connection closes, so the orders it still waits for are cancelled.
class connection_listener {
 public:
  explicit connection_listener(std::shared_ptr<server_state> state) : state_(std::move(state)) {}
  void state_changed(const restinio::connection_state::notice_t& notice) noexcept {
    if (restinio::holds_alternative<restinio::connection_state::closed_t>(notice.cause()))
      state_->connection_closed(notice.connection_id());
  }

 private:
  std::shared_ptr<server_state> state_;
};

struct server_traits : public restinio::default_traits_t {
  using connection_state_listener_t = connection_listener;
  static constexpr bool use_connection_count_limiter = true;
};

using running_server = restinio::running_server_handle_t<server_traits>;

// Answers one request: routing, 404/405, and api_error or other exceptions from a handler.
restinio::request_handling_status_t dispatch(const route_table& table, const access_policy& access,
                                             const std::shared_ptr<server_state>& state,
                                             const restinio::request_handle_t& request) {
  const std::string method = request->header().method().c_str();
  const std::string path(request->header().path());
  const auto& fields = request->header();
  const std::string origin = fields.get_field_or("Origin", "");
  if (method == "OPTIONS" && !origin.empty()) {
    // A CORS preflight: allowed origins get the methods and headers; others get nothing to use.
    auto ex = std::make_shared<exchange>(request, "preflight", std::map<std::string, std::string>{},
                                         state);
    ex->send_text(204, "text/plain", "", access.preflight_headers(origin));
    return restinio::request_accepted();
  }
  route_match match = table.paths.match(method, path);
  std::string route = match.result == route_match::kind::not_found ? "unmatched" : match.pattern;
  auto ex = std::make_shared<exchange>(request, route, std::move(match.params), state);
  ex->add_response_headers(access.cors_headers(origin));
  try {
    if (auto refused = access.check(path, fields.get_field_or("Authorization", ""),
                                    fields.get_field_or("X-API-Key", ""))) {
      ex->send_error(*refused, {{"WWW-Authenticate", "Bearer"}});
      return restinio::request_accepted();
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
        table.handlers[match.index](ex);
        break;
    }
  } catch (const api_error& error) {
    ex->send_error(error);
  } catch (const std::exception& error) {
    ex->send_error(api_error(500, "internal", error.what()));
  }
  return restinio::request_accepted();
}

}  // namespace

struct server::impl {
  explicit impl(const config::deployment_config& config) : access(config.auth) {}
  access_policy access;
  std::shared_ptr<server_state> state;
  route_table routes;
  running_server running;
  std::atomic<uint16_t> bound_port{0};
};

server::server(const config::deployment_config& config, actors::gateway& gateway)
    : impl_(std::make_unique<impl>(config)) {
  impl_->state = std::make_shared<server_state>(config, gateway);
  add_generate_routes(impl_->routes);
  add_operations_routes(impl_->routes);
  add_frontend_routes(impl_->routes, config);
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
  const size_t threads = size_t(std::max(1, gateway_config.http_threads));

  // Bodies over max_body_bytes are answered 413 by the routes, so RESTinio must read them first:
  // its own limit is higher; past it the connection is dropped.
  const uint64_t transport_body_limit =
      std::max<uint64_t>(uint64_t(gateway_config.max_body_bytes) * 4, 1 << 20);
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
          .read_next_http_message_timelimit(std::chrono::seconds(60))
          .write_http_response_timelimit(std::chrono::seconds(60))
          // Past the order's deadline the gateway answers 504 itself; this only guards against a
          // response that never comes.
          .handle_request_timeout(request_timeout + std::chrono::seconds(30))
          // A second request slot keeps RESTinio reading while a generation runs, which is how it
          // notices a client that hangs up.
          .max_pipelined_requests(2)
          .max_parallel_connections(gateway_config.max_connections)
          .concurrent_accepts_count(threads)
          .separate_accept_and_create_connect(false)
          .acceptor_options_setter([](restinio::acceptor_options_t& options) {
            options.set_option(restinio::asio_ns::ip::tcp::acceptor::reuse_address(true));
          })
          .socket_options_setter([](restinio::socket_options_t& options) {
            options.set_option(restinio::asio_ns::ip::tcp::no_delay(true));
          })
          .acceptor_post_bind_hook([self](restinio::asio_ns::ip::tcp::acceptor& acceptor) {
            self->bound_port = acceptor.local_endpoint().port();
          })
          .connection_state_listener(std::make_shared<connection_listener>(state))
          .request_handler([routes, access, state](const restinio::request_handle_t& request) {
            return dispatch(*routes, *access, state, request);
          });

  try {
    impl_->running = restinio::run_async(restinio::own_io_context(), std::move(settings), threads);
  } catch (const std::exception& error) {
    throw std::runtime_error("cannot listen on " + gateway_config.host + ":" +
                             std::to_string(gateway_config.http_port) + ": " + error.what());
  }
}

uint16_t server::port() const { return impl_->bound_port; }

const std::string& server::host() const { return impl_->state->config.gateway.host; }

void server::drain() { impl_->state->draining = true; }

void server::stop(std::chrono::milliseconds grace) {
  drain();
  if (!impl_->running) return;
  impl_->state->wait_responses_written(grace);
  impl_->running->stop();
  impl_->running->wait();
  impl_->running.reset();
}

}  // namespace muse::http
