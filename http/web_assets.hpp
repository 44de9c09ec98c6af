#pragma once
// The web page's files (http/web), compiled into the binary by http/web/embed.cmake.

#include <string>
#include <vector>

namespace muse::http {

struct web_asset {
  std::string path;  // "/index.html"
  std::string content_type;
  std::string body;
};

const std::vector<web_asset>& web_assets();

}  // namespace muse::http
