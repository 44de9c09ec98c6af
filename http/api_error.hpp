#pragma once
// The one error type of http/: what a request did wrong (or what went wrong serving it), carrying
// its HTTP status. Every error response has the body {"error": {"code", "message", "field"?}}.

#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>

#include "actors/gateway.hpp"

namespace muse::http {

class api_error : public std::runtime_error {
 public:
  api_error(int status, std::string code, const std::string& message, std::string field = "");

  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }
  nlohmann::json body() const;

 private:
  int status_;
  std::string code_;
  std::string field_;
};

// 400 invalid_request naming the offending field.
api_error invalid_field(const std::string& field, const std::string& message);

// 400 invalid_request for a field the route does not take, with the known one it most plausibly
// meant ("did you mean", as the config checker words it) when one is close; `note` is added.
api_error unknown_field(const std::string& field, const std::set<std::string>& known,
                        const std::string& note = "");

// The status and code a gateway failure is answered with.
api_error error_for(actors::failure failure, const std::string& message);

}  // namespace muse::http
