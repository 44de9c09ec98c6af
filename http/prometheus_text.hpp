#pragma once
// GET /metrics: Prometheus text exposition format 0.0.4, built from the gateway's stats() snapshot
// and the HTTP layer's own counters. Keys missing from the snapshot are skipped, not invented.

#include <nlohmann/json.hpp>
#include <string>

#include "http/http_metrics.hpp"

namespace muse::http {

constexpr const char* prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const nlohmann::json& stats, const http_metrics::snapshot& http);

}  // namespace muse::http
