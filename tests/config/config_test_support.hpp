#pragma once
// Shared by the config tests: the error text of a bad config.

#include <string>

#include "cluster_config/config.hpp"

namespace muse::config::testing {

// what() of the config_error the text provokes; "" when it parses.
inline std::string problems_of(const std::string& text, const std::string& source = "") {
  try {
    parse_config(text, source);
  } catch (const config_error& error) {
    return error.what();
  }
  return "";
}

}  // namespace muse::config::testing
