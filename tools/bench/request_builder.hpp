#pragma once
// The bytes muse-bench sends: a JSON body in the shape of the chosen route, wrapped in an
// HTTP/1.1 keep-alive request. Built once per prompt and quality and reused, unless seeds vary
// per request.

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/bench_options.hpp"

namespace muse::bench {

const char* route_path(api_kind api);

// `quality` indexes options.qualities (modulo their count).
nlohmann::json request_body(const bench_options& options, const std::string& prompt,
                            std::optional<uint64_t> seed, size_t quality = 0);

std::string http_request(const bench_options& options, const std::string& body);

// Thread-safe: any event-loop thread may take the next request.
class request_source {
 public:
  explicit request_source(const bench_options& options);

  std::shared_ptr<const std::string> next();
  int images_per_request() const { return images_; }

 private:
  size_t qualities() const;  // how many distinct qualities requests cycle through (at least 1)
  const bench_options& options_;
  // One per prompt and quality (prompt-major), when seeds are fixed.
  std::vector<std::shared_ptr<const std::string>> prebuilt_;
  std::atomic<uint64_t> counter_{0};
  int images_;
};

}  // namespace muse::bench
