#include "http/api_error.hpp"

#include "cluster_config/closest_word.hpp"

namespace muse::http {

api_error::api_error(int status, std::string code, const std::string& message, std::string field)
    : std::runtime_error(message),
      status_(status),
      code_(std::move(code)),
      field_(std::move(field)) {}

nlohmann::json api_error::body() const {
  nlohmann::json error = {{"code", code_}, {"message", what()}};
  if (!field_.empty()) error["field"] = field_;
  return {{"error", std::move(error)}};
}

api_error invalid_field(const std::string& field, const std::string& message) {
  return api_error(400, "invalid_request", message, field);
}

api_error unknown_field(const std::string& field, const std::set<std::string>& known,
                        const std::string& note) {
  const std::string meant = config::closest(field, {known.begin(), known.end()});
  return invalid_field(field, "unknown field '" + field + "'" +
                                  (meant.empty() ? "" : "; did you mean '" + meant + "'?") + note);
}

api_error error_for(actors::failure failure, const std::string& message) {
  switch (failure) {
    case actors::failure::invalid_request:
      return api_error(400, "invalid_request", message);
    case actors::failure::queue_full:
      return api_error(429, "queue_full", message);
    case actors::failure::no_worker:
      return api_error(503, "no_worker", message);
    case actors::failure::shutting_down:
      return api_error(503, "shutting_down", message);
    case actors::failure::timeout:
      return api_error(504, "timeout", message);
    case actors::failure::cancelled:
      // Nobody is left to read it: the client went away or cancelled. 499 as nginx names it.
      return api_error(499, "cancelled", message);
    case actors::failure::internal:
      break;
  }
  return api_error(500, "internal", message);
}

}  // namespace muse::http
