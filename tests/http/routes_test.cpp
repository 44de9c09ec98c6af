// The route table: which requests need no API key, and the route index of http/README.md, which
// must list exactly the routes the server has.
#include "http/routes.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

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
