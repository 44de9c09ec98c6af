#pragma once
// The face's plain request and limits (order.hpp) to model/'s and back. The face keeps its own
// copies so that http/ builds without model/; the actors convert where an order enters (the
// ingress) and where a worker reports what it serves (the balancer).

#include "actors/order.hpp"
#include "model/generator.hpp"

namespace muse::actors {

model::sample_request to_model(const sample_request& request);
model_limits from_model(const model::model_limits& limits);

}  // namespace muse::actors
