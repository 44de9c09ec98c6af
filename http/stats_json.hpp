#pragma once
// GET /api/v1/stats: the gateway's typed stats as JSON, the one place they become JSON. The keys
// are listed in actors/README.md ("Stats snapshot"); they are only ever added, never renamed:
// actor-stats, the web page and operators' scripts read them.

#include <nlohmann/json.hpp>

#include "actors/stats_snapshot.hpp"

namespace muse::http {

// {"ready", "error"} when the reply holds no snapshot.
nlohmann::json stats_json(const actors::stats_reply& reply);
nlohmann::json stats_json(const actors::stats_snapshot& snapshot);
// A model's limits as /api/v1/stats and /api/v1/models show them.
nlohmann::json limits_json(const actors::model_limits& limits);

}  // namespace muse::http
