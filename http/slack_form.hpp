#pragma once
// The body of a Slack slash command: application/x-www-form-urlencoded fields. Every name and
// value goes out again as JSON (to the user, to Slack), so each must be UTF-8 once unescaped.

#include <map>
#include <string>

namespace muse::http {

// Fields by name ("+" is a space, "%XX" a byte; a pair without "=" is skipped, a later field of
// the same name wins). Throws api_error 400 invalid_request when a name or value is not UTF-8.
std::map<std::string, std::string> parse_slack_form(const std::string& body);

}  // namespace muse::http
