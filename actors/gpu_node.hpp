#pragma once
// One GPU node of a cluster (muse-node --role=gpu --node NAME): opens the node's CAF port from
// the config and lets the gateway's supervisor remote_spawn "model_worker" there. A spawn names
// the workers the gateway still counts here; the node stops any other it holds (one the gateway
// gave up on during a partition). SIGINT/SIGTERM drain: the node's workers finish what they
// hold, then the process exits.

#include <string>

#include "cluster_config/config.hpp"

namespace muse::actors {

// Runs until SIGINT or SIGTERM; the process exit code (0 after a clean drain, 1 when the port
// cannot be opened, 2 when the config has no node called `name`). Prints
// "muse-node: gpu node NAME listening on HOST:PORT" on stdout once it accepts connections.
int run_gpu_node(const config::deployment_config& config, const std::string& name);

}  // namespace muse::actors
