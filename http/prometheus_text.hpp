#pragma once
// GET /metrics: Prometheus text exposition format 0.0.4, built from the gateway's typed stats (the
// same snapshot /api/v1/stats shows) and the HTTP layer's own counters. Parts missing from the
// snapshot (a batcher or balancer that did not answer in time) are skipped, not invented.

#include <string>

#include "actors/stats_snapshot.hpp"
#include "http/http_metrics.hpp"

namespace muse::http {

constexpr const char* prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const actors::stats_reply& stats, const http_metrics::snapshot& http);

}  // namespace muse::http
