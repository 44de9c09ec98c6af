// POST /slack/commands as its route reads it: the signature check on the timestamp, signature and
// raw body, then the form, whose every field is sent on as JSON. The input is
// "<timestamp>\n<signature>\n<body>"; missing lines are empty.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/api_error.hpp"
#include "http/slack_form.hpp"
#include "http/slack_signature.hpp"

namespace {

constexpr int64_t now_s = 1700000000;
const std::string secret = "8f742231b10e8888abcd99yyyzzz85a5";

std::string next_line(const std::string& input, size_t& at) {
  size_t end = input.find('\n', at);
  if (end == std::string::npos) end = input.size();
  std::string line = input.substr(at, end - at);
  at = end < input.size() ? end + 1 : end;
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  const std::string timestamp = next_line(input, at);
  const std::string signature = next_line(input, at);
  const std::string body = input.substr(at);

  const std::string problem =
      muse::http::slack_signature_problem(secret, timestamp, body, signature, now_s);
  // The signature Slack would send must pass, whatever the body.
  const std::string fresh = std::to_string(now_s);
  const std::string good = "v0=" + muse::http::hmac_sha256_hex(secret, "v0:" + fresh + ":" + body);
  if (!muse::http::slack_signature_problem(secret, fresh, body, good, now_s).empty())
    __builtin_trap();
  // Passing means the signature is the one for this timestamp and body.
  if (problem.empty() &&
      signature != "v0=" + muse::http::hmac_sha256_hex(secret, "v0:" + timestamp + ":" + body))
    __builtin_trap();

  try {
    auto form = muse::http::parse_slack_form(body);
    nlohmann::json echoed = nlohmann::json::object();
    for (const auto& [name, value] : form) echoed[name] = value;
    (void)echoed.dump();  // what the route sends back must be valid JSON
  } catch (const muse::http::api_error&) {
  }
  return 0;
}
