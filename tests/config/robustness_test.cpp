#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config_test_support.hpp"

using namespace muse::config;
using json = nlohmann::json;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The key path the parser reports for a JSON pointer: "/gpu_nodes/0/port" -> "gpu_nodes[0].port".
std::string key_path(const json::json_pointer& pointer) {
  std::string out;
  std::string text = pointer.to_string();
  std::istringstream parts(text.substr(1));
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (!part.empty() && std::all_of(part.begin(), part.end(), ::isdigit))
      out += "[" + part + "]";
    else
      out += (out.empty() ? "" : ".") + part;
  }
  return out;
}

}  // namespace

TEST_CASE("every key of the effective config rejects a wrong type by its path",
          "[config][robust]") {
  json effective = to_json(parse_config(R"({ "cluster": { "tls": {
    "certificate": "c", "private_key": "k", "ca_file": "a" } } })"));
  const json wrong_values = {nullptr, "text", -1, 1.5, true, json::array(), json::object()};
  json leaves = effective.flatten();
  for (const auto& leaf : leaves.items()) {
    json::json_pointer pointer(leaf.key());
    std::string path = key_path(pointer);
    for (const json& wrong : wrong_values) {
      if (wrong.type() == leaf.value().type()) continue;
      json candidate = effective;
      candidate[pointer] = wrong;
      INFO(path << " = " << wrong.dump());
      try {
        parse_config(candidate.dump());
        // Some replacements are legal: an empty *_env or list, a number where a number goes.
        SUCCEED();
      } catch (const config_error& error) {
        CHECK_THAT(error.what(), Catch::Matchers::Contains(path));
      }
    }
  }
}

TEST_CASE("a shipped file cut short anywhere gives a config_error, nothing else",
          "[config][robust]") {
  std::string text = read_text(MUSE_SOURCE_DIR "/cluster_config/local.json");
  REQUIRE(text.size() > 100);
  const size_t closing_brace = text.rfind('}');
  for (size_t length = 0; length <= closing_brace; length += 7) {
    INFO("length " << length);
    try {
      parse_config(text.substr(0, length));
      FAIL("a truncated file parsed");
    } catch (const config_error& error) {
      CHECK(std::string(error.what()).find("invalid JSON") != std::string::npos);
    }
  }
}
