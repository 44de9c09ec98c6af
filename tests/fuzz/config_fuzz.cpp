// parse_config on any text: a config_error (listing every problem) or a config whose effective
// JSON (what --check-config and /api/v1/stats print) dumps without throwing.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster_config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    muse::config::deployment_config config = muse::config::parse_config(text);
    (void)muse::config::to_json(config).dump();
  } catch (const muse::config::config_error&) {
  }
  return 0;
}
