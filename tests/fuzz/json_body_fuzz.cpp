// parse_json_body / parse_json_object on any bytes: either an api_error (the one error type of
// the parser) or a value that can be copied and dumped again, which is what the routes do with it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/api_error.hpp"
#include "http/json_body.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    nlohmann::json value = muse::http::parse_json_body(body);
    nlohmann::json copy = value;
    // A value the parser accepted is UTF-8 all through: dump() must not throw.
    (void)copy.dump();
  } catch (const muse::http::api_error&) {
  }
  try {
    nlohmann::json object = muse::http::parse_json_object(body);
    if (!object.is_object()) __builtin_trap();
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
