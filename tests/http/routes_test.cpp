// The route table: which requests need no API key; the route index of http/README.md and the
// OpenAPI description (http/web/openapi.json), which must both name exactly the routes the server
// has.
#include "http/routes.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "http/generate_request.hpp"
#include "http/web_assets.hpp"

using muse::http::route_access;
using muse::http::route_table;

namespace {

void no_op(const std::shared_ptr<muse::http::exchange>&) {}

using route_row = std::tuple<std::string, std::string, std::string>;  // method, pattern, key

std::string key_column(route_access access) { return access == route_access::open ? "no" : "yes"; }

// The rows of README's "## Route index" table: | `METHOD` | `PATTERN` | yes/no |.
std::set<route_row> readme_index(const std::string& readme) {
  std::set<route_row> rows;
  std::istringstream lines(readme);
  std::string line;
  bool in_index = false;
  while (std::getline(lines, line)) {
    if (line.rfind("## ", 0) == 0) in_index = line == "## Route index";
    if (!in_index || line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    std::string cell;
    while (std::getline(row, cell, '|')) {
      size_t first = cell.find_first_not_of(" `");
      size_t last = cell.find_last_not_of(" `");
      cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
    }
    REQUIRE(cells.size() >= 3);
    rows.emplace(cells[0], cells[1], cells[2]);
  }
  return rows;
}

using nlohmann::json;

const muse::http::web_asset* find_asset(const std::string& path) {
  for (const auto& asset : muse::http::web_assets())
    if (asset.path == path) return &asset;
  return nullptr;
}

// http/web/openapi.json as the server serves it.
json served_openapi() {
  const auto* asset = find_asset("/openapi.json");
  REQUIRE(asset != nullptr);
  CHECK(asset->content_type == "application/json");
  json doc = json::parse(asset->body, nullptr, false);
  REQUIRE_FALSE(doc.is_discarded());
  return doc;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

const std::set<std::string> openapi_methods = {"get",     "put",  "post",  "delete",
                                               "options", "head", "patch", "trace"};

// Every "$ref" under `node`.
void collect_refs(const json& node, std::vector<std::string>& refs) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string())
        refs.push_back(value.get<std::string>());
      else
        collect_refs(value, refs);
    }
  } else if (node.is_array()) {
    for (const auto& value : node) collect_refs(value, refs);
  }
}

// The value a local reference ("#/components/schemas/Job") names, or null when there is none.
const json* referenced(const json& doc, const std::string& ref) {
  if (ref.rfind("#/components/", 0) != 0) return nullptr;
  const json::json_pointer pointer(ref.substr(1));
  return doc.contains(pointer) ? &doc.at(pointer) : nullptr;
}

// `value`, or what it refers to when it is a {"$ref"}.
const json& resolved(const json& doc, const json& value) {
  if (!value.is_object() || !value.contains("$ref")) return value;
  const json* target = referenced(doc, value.at("$ref").get<std::string>());
  REQUIRE(target != nullptr);
  return *target;
}

std::set<std::string> property_names(const json& schema) {
  std::set<std::string> names;
  for (const auto& [name, value] : schema.at("properties").items()) names.insert(name);
  return names;
}

}  // namespace

TEST_CASE("a request needs no key only when its route, or its pattern, is open", "[routes]") {
  route_table table;
  table.add("GET", "/healthz", no_op, route_access::open);
  table.add("GET", "/api/v1/jobs/{id}", no_op);
  table.add("DELETE", "/api/v1/jobs/{id}", no_op);
  table.add("POST", "/api/v1/jobs", no_op, route_access::open);

  CHECK(table.open(table.match("GET", "/healthz")));
  CHECK(table.open(table.match("POST", "/healthz")));  // 405, and no key asked first
  CHECK(table.open(table.match("POST", "/api/v1/jobs")));
  CHECK_FALSE(table.open(table.match("GET", "/api/v1/jobs/abc")));
  CHECK_FALSE(table.open(table.match("PUT", "/api/v1/jobs/abc")));
  CHECK_FALSE(table.open(table.match("GET", "/nowhere")));
  CHECK(table.at(table.match("DELETE", "/api/v1/jobs/abc").index).method == "DELETE");
}

TEST_CASE("http/README.md's route index lists exactly the server's routes", "[routes]") {
  const muse::config::deployment_config config;
  route_table table;
  add_all_routes(table, config);
  std::set<route_row> served;
  for (const auto& entry : table.entries())
    served.emplace(entry.method, entry.pattern, key_column(entry.access));
  REQUIRE(served.size() == table.entries().size());

  std::ifstream file(std::string(MUSE_SOURCE_DIR) + "/http/README.md");
  REQUIRE(file);
  std::stringstream readme;
  readme << file.rdbuf();
  std::set<route_row> documented = readme_index(readme.str());
  for (const auto& [method, pattern, key] : served) {
    INFO("served: " << method << " " << pattern << " key " << key);
    CHECK(documented.count({method, pattern, key}) == 1);
  }
  for (const auto& [method, pattern, key] : documented) {
    INFO("documented: " << method << " " << pattern << " key " << key);
    CHECK(served.count({method, pattern, key}) == 1);
  }
}

TEST_CASE("http/web/openapi.json describes exactly the server's routes", "[routes][openapi]") {
  const json doc = served_openapi();
  REQUIRE(doc.at("openapi").is_string());
  CHECK(doc.at("openapi").get<std::string>().rfind("3.0.", 0) == 0);

  // The web page's files are assets, not the API: every file of http/web, and the aliases.
  std::set<std::string> web_paths = {"/", "/api-docs"};
  for (const auto& asset : muse::http::web_assets()) web_paths.insert(asset.path);
  REQUIRE(web_paths.count("/openapi.json") == 1);
  REQUIRE(web_paths.count("/api-docs.html") == 1);

  const muse::config::deployment_config config;
  route_table table;
  add_all_routes(table, config);
  std::set<std::pair<std::string, std::string>> served;  // lower-case method, pattern
  const json& paths = doc.at("paths");
  for (const auto& entry : table.entries()) {
    INFO("served: " << entry.method << " " << entry.pattern);
    if (web_paths.count(entry.pattern)) {
      CHECK_FALSE(paths.contains(entry.pattern));
      continue;
    }
    served.emplace(lower(entry.method), entry.pattern);
    REQUIRE(paths.contains(entry.pattern));
    REQUIRE(paths.at(entry.pattern).contains(lower(entry.method)));
    // No key exactly for the open routes; the others take the global security.
    const json& operation = paths.at(entry.pattern).at(lower(entry.method));
    const bool no_key = operation.contains("security") && operation.at("security").is_array() &&
                        operation.at("security").empty();
    CHECK(no_key == (entry.access == route_access::open));
    if (entry.access != route_access::open) CHECK_FALSE(operation.contains("security"));
  }

  std::set<std::string> tags;
  for (const auto& tag : doc.at("tags")) tags.insert(tag.at("name").get<std::string>());
  std::set<std::string> operation_ids;
  const std::regex parameter_pattern("\\{([a-z_]+)\\}");
  for (const auto& [path, item] : paths.items()) {
    // The path parameters the path names, and those the path item declares for every method.
    std::set<std::string> in_path;
    for (std::sregex_iterator it(path.begin(), path.end(), parameter_pattern), end; it != end; ++it)
      in_path.insert((*it)[1].str());
    for (const auto& [method, operation] : item.items()) {
      if (!openapi_methods.count(method)) continue;
      INFO("described: " << method << " " << path);
      CHECK(served.count({method, path}) == 1);
      CHECK_FALSE(operation.value("summary", "").empty());
      CHECK_FALSE(operation.value("description", "").empty());
      const std::string id = operation.value("operationId", "");
      CHECK_FALSE(id.empty());
      CHECK(operation_ids.insert(id).second);
      REQUIRE(operation.contains("tags"));
      CHECK_FALSE(operation.at("tags").empty());
      for (const auto& tag : operation.at("tags")) CHECK(tags.count(tag.get<std::string>()) == 1);
      // A success and what a failure looks like.
      const json& responses = operation.at("responses");
      bool success = false, failure = false;
      for (const auto& [status, response] : responses.items()) {
        success |= status[0] == '2';
        failure |= status[0] == '4' || status[0] == '5' || status == "default";
      }
      CHECK(success);
      CHECK(failure);
      std::set<std::string> declared;
      for (const auto* list : {&item, &operation})
        if (list->contains("parameters"))
          for (const auto& parameter : list->at("parameters")) {
            const json& p = resolved(doc, parameter);
            if (p.at("in") == "path") {
              declared.insert(p.at("name").get<std::string>());
              CHECK(p.at("required") == true);
            }
          }
      CHECK(declared == in_path);
    }
  }

  // Either credential the access check takes, and both required by default.
  const json& schemes = doc.at("components").at("securitySchemes");
  CHECK(schemes.at("bearerAuth").at("type") == "http");
  CHECK(schemes.at("bearerAuth").at("scheme") == "bearer");
  CHECK(schemes.at("apiKeyHeader").at("type") == "apiKey");
  CHECK(schemes.at("apiKeyHeader").at("in") == "header");
  CHECK(schemes.at("apiKeyHeader").at("name") == "X-API-Key");
  CHECK(doc.at("security") == json::parse(R"([{"bearerAuth": []}, {"apiKeyHeader": []}])"));
}

TEST_CASE("openapi.json's GenerateRequest and JobRequest name exactly the native body's fields",
          "[routes][openapi]") {
  using muse::http::native_route;
  const json doc = served_openapi();
  const json& schemas = doc.at("components").at("schemas");
  for (auto [route, body, form] :
       {std::tuple{native_route::generate, "GenerateRequest", "GenerateForm"},
        std::tuple{native_route::job, "JobRequest", "JobForm"}}) {
    const auto& names = muse::http::generate_field_names(route);
    const std::set<std::string> accepted(names.begin(), names.end());
    REQUIRE(accepted.size() == names.size());
    REQUIRE(accepted.count("prompt") == 1);
    // The JSON body and the same fields as a multipart form.
    for (const char* name : {body, form}) {
      INFO(name);
      const json& schema = schemas.at(name);
      CHECK(property_names(schema) == accepted);
      CHECK(schema.at("additionalProperties") == false);
      CHECK(schema.at("required") == json::array({"prompt"}));
    }
  }
  CHECK(muse::http::generate_field_names(native_route::job).size() >
        muse::http::generate_field_names(native_route::generate).size());
}

TEST_CASE("every $ref of openapi.json names a component it has", "[routes][openapi]") {
  const json doc = served_openapi();
  std::vector<std::string> refs;
  collect_refs(doc, refs);
  CHECK(refs.size() > 50);
  for (const auto& ref : refs) {
    INFO(ref);
    CHECK(referenced(doc, ref) != nullptr);
  }
}
