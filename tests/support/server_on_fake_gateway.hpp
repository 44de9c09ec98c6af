#pragma once
// The real HTTP server on an ephemeral loopback port in front of the fake gateway (in the mode the
// suite asks for), for the suites that test http/ without actors; stopped when its object goes.

#include <chrono>
#include <string>

#include "cluster_config/config.hpp"
#include "http/server.hpp"
#include "tests/support/fake_gateway.hpp"
#include "tests/support/http_client.hpp"

namespace muse::testing {

struct server_on_fake_gateway {
  fake_gateway gateway;
  http::server server;

  explicit server_on_fake_gateway(const config::deployment_config& config,
                                  fake_gateway::answers mode = fake_gateway::answers::by_prompt)
      : gateway(mode), server(config, gateway) {
    server.start();
  }
  ~server_on_fake_gateway() {
    gateway.shutdown(std::chrono::milliseconds(0));
    server.stop(std::chrono::seconds(2));
  }
  server_on_fake_gateway(const server_on_fake_gateway&) = delete;
  server_on_fake_gateway& operator=(const server_on_fake_gateway&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server.port()) + path;
  }
  http_response get(const std::string& path) const { return http_request("GET", url(path)); }
  http_response post(const std::string& path, const std::string& body) const {
    return http_request("POST", url(path), body);
  }
  http_response post_form(const std::string& path, const std::vector<form_field>& form) const {
    return http_request("POST", url(path), "", {}, 60, &form);
  }
};

}  // namespace muse::testing
