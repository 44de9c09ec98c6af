#pragma once
// The route table: (method, path pattern) -> route index. Patterns are literal segments and
// `{name}` parameters ("/api/v1/jobs/{id}"). A path that matches no pattern is 404; one whose
// pattern exists for other methods only is 405 with those methods in Allow. Knows nothing of
// RESTinio, so it is tested on its own.

#include <map>
#include <string>
#include <vector>

namespace muse::http {

struct route_match {
  enum class kind { found, not_found, method_not_allowed };
  kind result = kind::not_found;
  size_t index = 0;                           // the route's index, when found
  std::string pattern;                        // when found or method_not_allowed: for metrics
  std::map<std::string, std::string> params;  // path parameter values, when found
  std::string allow;                          // when method_not_allowed: "GET, POST"
};

class router {
 public:
  // Returns the route's index (0, 1, 2, ... in order of adding). Throws std::invalid_argument
  // for a pattern that does not start with '/' or a route added twice.
  size_t add(const std::string& method, const std::string& pattern);
  route_match match(const std::string& method, const std::string& path) const;

 private:
  struct route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
  };
  static bool matches(const route& r, const std::vector<std::string>& segments,
                      std::map<std::string, std::string>* params);
  std::vector<route> routes_;
};

}  // namespace muse::http
