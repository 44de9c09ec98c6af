#include "actors/balancer_policy.hpp"

#include <stdexcept>

namespace muse::actors {

balancer_policy balancer_policy::from_name(const std::string& name) {
  if (name == "round_robin") return balancer_policy(kind::round_robin);
  if (name == "least_loaded") return balancer_policy(kind::least_loaded);
  throw std::invalid_argument("balancer.policy: unknown policy '" + name +
                              "' (round_robin | least_loaded)");
}

std::optional<size_t> balancer_policy::choose(const std::vector<worker_load>& workers,
                                              size_t batch_size) {
  if (workers.empty()) return std::nullopt;
  auto has_room = [&](const worker_load& w) {
    return w.ready && (w.in_flight == 0 || w.in_flight + batch_size <= w.capacity);
  };
  std::optional<size_t> chosen;
  for (size_t offset = 0; offset < workers.size(); ++offset) {
    size_t index = (next_ + offset) % workers.size();
    const auto& w = workers[index];
    if (!has_room(w)) continue;
    if (kind_ == kind::round_robin) {
      chosen = index;
      break;
    }
    if (!chosen || w.in_flight < workers[*chosen].in_flight) chosen = index;
  }
  if (chosen) next_ = (*chosen + 1) % workers.size();
  return chosen;
}

}  // namespace muse::actors
