#pragma once
// The HTTP server of the gateway: RESTinio on its own thread pool, serving the routes against an
// actors::gateway. RESTinio stays inside http/'s .cpp files; this header is all muse-node sees.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/gateway.hpp"
#include "cluster_config/config.hpp"

namespace muse::http {

class server {
 public:
  // `gateway` must outlive the server.
  server(const config::deployment_config& config, actors::gateway& gateway);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds gateway.host:gateway.http_port and serves on gateway.http_threads threads. Returns once
  // listening; throws std::runtime_error when it cannot bind.
  void start();
  // The bound port: the one the OS chose when http_port is 0.
  uint16_t port() const;
  const std::string& host() const;
  // Connections open now, as counted against gateway.max_connections.
  size_t open_connections() const;

  // From now on new requests get 503 shutting_down and responses close their connection.
  void drain();
  // Waits up to `grace` for every accepted request's response to be written, then stops serving;
  // async jobs' webhooks still pending are attempted once more within the same `grace`.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace muse::http
