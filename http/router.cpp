#include "http/router.hpp"

#include <stdexcept>

namespace muse::http {
namespace {

// "/a/b/" and "/a/b" are the same path; empty segments ("//") are kept so they never match.
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (!segments.empty() && segments.back().empty()) segments.pop_back();
  return segments;
}

bool is_parameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

size_t router::add(const std::string& method, const std::string& pattern) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  for (const auto& r : routes_)
    if (r.method == method && r.pattern == pattern)
      throw std::invalid_argument("route added twice: " + method + " " + pattern);
  routes_.push_back({method, pattern, split_path(pattern)});
  return routes_.size() - 1;
}

bool router::matches(const route& r, const std::vector<std::string>& segments,
                     std::map<std::string, std::string>* params) {
  if (r.segments.size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (is_parameter(r.segments[i])) {
      if (segments[i].empty()) return false;
      if (params) (*params)[r.segments[i].substr(1, r.segments[i].size() - 2)] = segments[i];
    } else if (r.segments[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

route_match router::match(const std::string& method, const std::string& path) const {
  route_match result;
  if (path.empty() || path.front() != '/') return result;
  const auto segments = split_path(path);
  for (size_t i = 0; i < routes_.size(); ++i) {
    const route& r = routes_[i];
    if (r.method != method) continue;
    std::map<std::string, std::string> params;
    if (matches(r, segments, &params)) {
      result.result = route_match::kind::found;
      result.index = i;
      result.pattern = r.pattern;
      result.params = std::move(params);
      return result;
    }
  }
  for (const auto& r : routes_) {
    if (!matches(r, segments, nullptr)) continue;
    result.result = route_match::kind::method_not_allowed;
    if (result.pattern.empty()) result.pattern = r.pattern;
    if (result.allow.find(r.method) == std::string::npos)
      result.allow += (result.allow.empty() ? "" : ", ") + r.method;
  }
  return result;
}

}  // namespace muse::http
