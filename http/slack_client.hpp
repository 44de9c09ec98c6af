#pragma once
// Slack's side of a slash command, over libcurl: answers to a command's response_url, and the
// three-call file upload (files.getUploadURLExternal, the upload, files.completeUploadExternal).
// Each call throws std::runtime_error saying what failed; nothing is retried.

#include <string>

namespace muse::http {

struct slack_upload {
  std::string channel_id;
  std::string filename;
  std::string title;
  std::string comment;
  std::string png;
};

class slack_client {
 public:
  // `api_base`: "https://slack.com/api" or a test's fake. `bot_token` is needed for uploads only.
  slack_client(std::string api_base, std::string bot_token);

  // POSTs `json` to a command's response_url.
  void respond(const std::string& response_url, const std::string& json) const;
  void upload(const slack_upload& file) const;

 private:
  std::string api_base_;
  std::string bot_token_;
};

}  // namespace muse::http
