#pragma once
// start_gateway with the worker placement spelled out: tests place workers with a fake
// generator; start_gateway(config, role) picks the real one for the role.

#include <memory>

#include "actors/gateway.hpp"
#include "actors/placement.hpp"

namespace muse::actors {

// Throws std::invalid_argument for a config the actors cannot run (an unknown balancer policy).
// With `gateway_name` (one of config.gateways), the pool is shared with the other gateways.
std::unique_ptr<gateway> start_gateway(const config::deployment_config& config,
                                       std::shared_ptr<worker_placement> placement,
                                       const std::string& gateway_name = "");

}  // namespace muse::actors
