#pragma once
// "Did you mean": the config checker's and the HTTP layer's suggestion for an unknown key or field.

#include <string>
#include <vector>

namespace muse::config {

// The candidate a misspelt or shortened word most plausibly meant; "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace muse::config
