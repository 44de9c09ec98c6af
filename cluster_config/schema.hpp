#pragma once
// What the config file may say: its sections, keys, types, ranges and defaults (the defaults
// themselves live in config.hpp's structs), and the rules that span several keys. README.md beside
// this file documents the same; keep the two in step.

#include <nlohmann/json.hpp>

#include "cluster_config/config.hpp"
#include "cluster_config/problems.hpp"

namespace muse::config::detail {

// Reads the document (a JSON object) into config, reporting every problem with its key path.
void read_deployment(problem_list& problems, const nlohmann::json& document,
                     deployment_config& config);

// Rules across keys. nodes_readable: gpu_nodes could be read at all; rules over the nodes are
// skipped otherwise, as they would only echo the problem already reported.
void check_cross_field_rules(problem_list& problems, const deployment_config& config,
                             bool nodes_readable);

// Whether model.path names a single-file checkpoint (as model/'s loader decides: by the suffix).
bool is_single_file(const std::string& model_path);

// Where models[i]'s keys are named in messages: "model" for the one model (however it was
// written: a list of one reads as the `model` section), "models[i]" for one of several.
std::string model_key_path(const deployment_config& config, size_t i);

}  // namespace muse::config::detail
