#pragma once
// Slack's request signature: "v0=" + hex HMAC-SHA256 of "v0:{timestamp}:{raw body}" with the
// app's signing secret, checked before anything else is done with a request.

#include <cstdint>
#include <string>

namespace muse::http {

// Lowercase hex HMAC-SHA256 of `message` with `key`.
std::string hmac_sha256_hex(const std::string& key, const std::string& message);

// "" when the request is Slack's; otherwise why not. Stale: more than 5 minutes from `now_s`
// (seconds since the epoch), either way, which stops replays.
std::string slack_signature_problem(const std::string& signing_secret, const std::string& timestamp,
                                    const std::string& body, const std::string& signature,
                                    int64_t now_s);

}  // namespace muse::http
