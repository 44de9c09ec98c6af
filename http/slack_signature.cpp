#include "http/slack_signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

#include "http/access.hpp"

namespace muse::http {

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string slack_signature_problem(const std::string& signing_secret, const std::string& timestamp,
                                    const std::string& body, const std::string& signature,
                                    int64_t now_s) {
  if (timestamp.empty() || signature.empty()) return "the Slack signature headers are missing";
  if (timestamp.size() > 12 || timestamp.find_first_not_of("0123456789") != std::string::npos)
    return "the Slack request timestamp is not a number";
  const int64_t sent = std::strtoll(timestamp.c_str(), nullptr, 10);
  constexpr int64_t max_skew_s = 5 * 60;
  if (sent > now_s + max_skew_s || sent < now_s - max_skew_s)
    return "the Slack request timestamp is more than 5 minutes off";
  const std::string expected =
      "v0=" + hmac_sha256_hex(signing_secret, "v0:" + timestamp + ":" + body);
  if (!constant_time_equal(expected, signature)) return "the Slack signature does not match";
  return "";
}

}  // namespace muse::http
