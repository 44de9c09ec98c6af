#pragma once
// An async job's `webhook`: the URL its result is posted to, checked when the job is created. Only
// http:// and https:// URLs whose host the config allows (gateway.webhook_hosts) are taken, so a
// client cannot make the gateway post to any address it reaches (its own network's included).
// libcurl parses the URL, as it will when it posts there: the host checked is the host called.

#include <string>
#include <vector>

namespace muse::http {

// The URL as libcurl will call it. Throws api_error 400 on `webhook` naming the reason: no hosts
// allowed, not a URL, another scheme, user and password in it, a host not in `allowed_hosts`
// (compared without regard to case).
std::string checked_webhook_url(const std::string& url,
                                const std::vector<std::string>& allowed_hosts);

}  // namespace muse::http
