#include "http/slack_client.hpp"

#include <curl/curl.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "http/api_error.hpp"
#include "http/json_body.hpp"

namespace muse::http {
namespace {

struct reply {
  long status = 0;
  std::string body;
};

// Slack answers within seconds or not at all; a stuck call must not hold a poster thread long.
constexpr long call_timeout_s = 20;

reply post(const std::string& url, const std::string& content_type, const std::string& body,
           const std::string& bearer) {
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  reply out;
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  headers = curl_slist_append(headers, "Expect:");
  if (!bearer.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + bearer).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, call_timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char* data, size_t size, size_t count, void* target) -> size_t {
        static_cast<std::string*>(target)->append(data, size * count);
        return size * count;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK)
    throw std::runtime_error("cannot reach " + url + ": " + curl_easy_strerror(code));
  return out;
}

std::string form_escape(const std::string& text) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Slack's Web API answers 200 with {"ok": false, "error": "..."} when a call is refused.
nlohmann::json api_result(const std::string& method, const reply& r) {
  if (r.status != 200)
    throw std::runtime_error(method + " answered HTTP " + std::to_string(r.status));
  nlohmann::json result;
  try {
    result = parse_json_object(r.body);
  } catch (const api_error& error) {
    throw std::runtime_error(method + " answered no JSON object: " + error.what());
  }
  if (!result.value("ok", false))
    throw std::runtime_error(method + " failed: " + result.value("error", std::string("unknown")));
  return result;
}

}  // namespace

slack_client::slack_client(std::string api_base, std::string bot_token)
    : api_base_(std::move(api_base)), bot_token_(std::move(bot_token)) {
  while (!api_base_.empty() && api_base_.back() == '/') api_base_.pop_back();
}

void slack_client::respond(const std::string& response_url, const std::string& json) const {
  reply r = post(response_url, "application/json", json, "");
  if (r.status < 200 || r.status >= 300)
    throw std::runtime_error("the response_url answered HTTP " + std::to_string(r.status));
}

void slack_client::upload(const slack_upload& file) const {
  if (bot_token_.empty()) throw std::runtime_error("no Slack bot token is configured");
  nlohmann::json target = api_result(
      "files.getUploadURLExternal",
      post(api_base_ + "/files.getUploadURLExternal", "application/x-www-form-urlencoded",
           "filename=" + form_escape(file.filename) + "&length=" + std::to_string(file.png.size()),
           bot_token_));
  const std::string upload_url = target.value("upload_url", std::string());
  const std::string file_id = target.value("file_id", std::string());
  if (upload_url.empty() || file_id.empty())
    throw std::runtime_error("files.getUploadURLExternal gave no upload_url or file_id");

  reply uploaded = post(upload_url, "application/octet-stream", file.png, bot_token_);
  if (uploaded.status != 200)
    throw std::runtime_error("the file upload answered HTTP " + std::to_string(uploaded.status));

  nlohmann::json complete = {{"files", {{{"id", file_id}, {"title", file.title}}}},
                             {"channel_id", file.channel_id},
                             {"initial_comment", file.comment}};
  api_result("files.completeUploadExternal",
             post(api_base_ + "/files.completeUploadExternal", "application/json; charset=utf-8",
                  complete.dump(), bot_token_));
}

}  // namespace muse::http
