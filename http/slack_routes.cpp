// The Slack slash command (/muse PROMPT). The signature is checked before anything else; the
// command is answered at once with an ephemeral "generating" message (Slack waits 3 s at most),
// and the image is posted later from a thread of its own, through the command's response_url
// (an image block pointing at the gateway's expiring image URL) or as a file upload with the bot
// token, as slack.post_mode says. Failures are told to the user, ephemerally.

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "http/frontend_routes.hpp"
#include "http/generate_request.hpp"
#include "http/json_body.hpp"
#include "http/order.hpp"
#include "http/slack_client.hpp"
#include "http/slack_form.hpp"
#include "http/slack_signature.hpp"

namespace muse::http {
namespace {

// Runs Slack calls one after another on its own thread, off the HTTP threads that outcomes are
// handed to. Tasks queued when it is destroyed still run (each call is bounded by its timeout).
class slack_poster {
 public:
  slack_poster() : thread_([this] { run(); }) {}
  ~slack_poster() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    changed_.notify_all();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      try {
        task();
      } catch (...) {
        // A task reports its own failures to the user; nothing more can be done here.
      }
    }
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

std::string env_value(const std::string& name) {
  return config::secret_from_env(name).value_or("");
}

std::string trim(const std::string& text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

nlohmann::json ephemeral(const std::string& text) {
  return {{"response_type", "ephemeral"}, {"text", text}};
}

std::string field(const exchange& ex, const char* name) {
  return std::string(ex.request().header().get_field_or(name, ""));
}

struct command {
  std::string prompt;
  std::string response_url;
  std::string channel_id;
  std::string user_id;
};

void post_result(const config::deployment_config& config, image_store& images, const command& cmd,
                 const actors::generate_outcome& outcome) {
  slack_client slack(config.slack.api_base, env_value(config.slack.bot_token_env));
  auto tell_failure = [&](const std::string& why) {
    slack.respond(cmd.response_url,
                  ephemeral("Sorry, the image for \"" + cmd.prompt + "\" failed: " + why).dump());
  };
  if (outcome.error) {
    tell_failure(outcome.message.empty() ? actors::to_string(*outcome.error) : outcome.message);
    return;
  }
  if (outcome.images.empty()) {
    tell_failure("no image came back");
    return;
  }
  const auto& image = outcome.images.front();
  try {
    if (config.slack.post_mode == "upload") {
      slack.upload({cmd.channel_id, "muse-" + std::to_string(image.seed) + ".png", cmd.prompt,
                    "<@" + cmd.user_id + ">: " + cmd.prompt, image.png});
      return;
    }
    const std::string url = config.gateway.public_url + "/api/v1/images/" + images.put(image.png);
    nlohmann::json message = {
        {"response_type", "in_channel"},
        {"text", cmd.prompt},
        {"blocks",
         {{{"type", "image"},
           {"image_url", url},
           {"alt_text", cmd.prompt},
           {"title",
            {{"type", "plain_text"},
             {"text", cmd.prompt + " (seed " + std::to_string(image.seed) + ")"}}}}}}};
    slack.respond(cmd.response_url, message.dump());
  } catch (const std::exception& error) {
    tell_failure(error.what());
  }
}

void slash_command(const std::shared_ptr<exchange>& ex, const std::shared_ptr<image_store>& images,
                   const std::shared_ptr<slack_poster>& poster) {
  server_state& state = ex->state();
  const auto& config = state.config;
  const std::string secret = env_value(config.slack.signing_secret_env);
  if (secret.empty())
    throw api_error(503, "slack_not_configured", "slack.signing_secret_env names no secret");
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::string problem = slack_signature_problem(secret, field(*ex, "X-Slack-Request-Timestamp"),
                                                ex->body(), field(*ex, "X-Slack-Signature"), now_s);
  if (!problem.empty()) throw api_error(401, "unauthorized", problem);

  auto form = parse_slack_form(ex->body());
  command cmd{trim(form["text"]), form["response_url"], form["channel_id"], form["user_id"]};
  if (cmd.prompt.empty()) {
    ex->send_json(
        200,
        ephemeral("Usage: " + (form["command"].empty() ? std::string("/muse") : form["command"]) +
                  " PROMPT, e.g. a lighthouse at dusk"));
    return;
  }
  if (cmd.response_url.rfind("http://", 0) != 0 && cmd.response_url.rfind("https://", 0) != 0)
    throw api_error(400, "invalid_request", "response_url is missing", "response_url");
  if (state.draining) {
    ex->send_json(200, ephemeral("The image server is restarting; please try again shortly."));
    return;
  }
  if (!state.gateway.ready()) {
    ex->send_json(200, ephemeral("No model is ready yet; please try again shortly."));
    return;
  }
  generate_request request;
  try {
    generate_fields fields;
    fields.prompt = cmd.prompt;
    request = validate_order(state, fields);
  } catch (const api_error& error) {
    ex->send_json(200,
                  ephemeral(std::string("Sorry, that prompt cannot be drawn: ") + error.what()));
    return;
  }

  std::weak_ptr<slack_poster> weak_poster = poster;
  std::weak_ptr<image_store> weak_images = images;
  auto shared_config = std::make_shared<config::deployment_config>(config);
  order_handling handling;  // not tied to the connection: Slack has its answer already
  handling.finished = [weak_poster, weak_images, shared_config,
                       cmd](const actors::generate_outcome& outcome) {
    auto poster = weak_poster.lock();
    if (!poster) return;
    poster->post([weak_images, shared_config, cmd, outcome] {
      if (auto images = weak_images.lock()) post_result(*shared_config, *images, cmd, outcome);
    });
  };
  submit_order(ex->shared_state(), state.new_order(request), std::move(handling));
  ex->send_json(200, ephemeral("Generating \"" + cmd.prompt + "\"..."));
}

}  // namespace

void add_slack_routes(route_table& table, std::shared_ptr<image_store> images) {
  auto poster = std::make_shared<slack_poster>();
  table.add(
      "POST", "/slack/commands",
      [images, poster](const std::shared_ptr<exchange>& ex) { slash_command(ex, images, poster); },
      route_access::open);
}

}  // namespace muse::http
