#pragma once
// One line per notable event on stderr, with a UTC timestamp. Debug lines (batch flushes,
// dispatches) only when the environment has MUSE_LOG=debug.

#include <string>

namespace muse::actors {

bool debug_logging();
void log_info(const std::string& who, const std::string& what);
void log_warning(const std::string& who, const std::string& what);
void log_debug(const std::string& who, const std::string& what);

}  // namespace muse::actors
