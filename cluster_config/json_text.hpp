#pragma once
// Config text -> JSON document: comments allowed, syntax errors as config_error at
// "<source>:<line>:<column>", and a key given twice in one object reported as a problem
// (nlohmann would keep the last one silently, so a second "model" section would override the
// first).

#include <nlohmann/json.hpp>
#include <string>

#include "cluster_config/problems.hpp"

namespace muse::config::detail {

nlohmann::json parse_json_with_comments(const std::string& text, const std::string& source,
                                        problem_list& problems);

}  // namespace muse::config::detail
