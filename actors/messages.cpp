#include "actors/messages.hpp"

#include "actors/model_worker.hpp"

namespace muse::actors {

const char* to_string(failure f) {
  switch (f) {
    case failure::invalid_request:
      return "invalid_request";
    case failure::queue_full:
      return "queue_full";
    case failure::no_worker:
      return "no_worker";
    case failure::timeout:
      return "timeout";
    case failure::cancelled:
      return "cancelled";
    case failure::shutting_down:
      return "shutting_down";
    case failure::internal:
      return "internal";
  }
  return "internal";
}

uint8_t to_code(const std::optional<failure>& f) {
  return f ? static_cast<uint8_t>(1 + static_cast<int>(*f)) : 0;
}

std::optional<failure> from_code(uint8_t code) {
  if (code == 0) return std::nullopt;
  if (code > 1 + static_cast<int>(failure::internal)) return failure::internal;
  return static_cast<failure>(code - 1);
}

batch_key batch_key_of(const std::string& model, const model::sample_request& request) {
  return batch_key{model, request.width, request.height, request.scheduler};
}

std::string to_string(const batch_key& key) {
  return (key.model.empty() ? "" : key.model + "/") + std::to_string(key.width) + "x" +
         std::to_string(key.height) + "/" + key.scheduler;
}

void add_message_types(caf::actor_system_config& config) {
  config.add_message_types<caf::id_block::muse>();
  add_model_worker_type(config);
}

}  // namespace muse::actors
