#include "http/server_state.hpp"

#include <algorithm>
#include <vector>

#include "actors/log.hpp"
#include "http/api_error.hpp"
#include "http/random_ids.hpp"

namespace muse::http {

void server_state::admit_generation() const {
  if (draining) throw api_error(503, "shutting_down", "the server is shutting down");
  if (!gateway.ready()) throw api_error(503, "no_worker", "no worker is ready yet");
}

const config::model_config& server_state::served_model(const std::string& name) const {
  if (const auto* model = config.find_model(name)) return *model;
  const auto names = config.model_names();
  std::string known;
  for (const auto& known_name : names) known += (known.empty() ? "\"" : ", \"") + known_name + "\"";
  throw api_error(400, "invalid_request",
                  "unknown model \"" + name + "\"; this server serves " + known, "model");
}

request_rules server_state::generation_rules(const std::optional<std::string>& model) const {
  const auto& chosen = model ? served_model(*model) : config.default_model();
  return request_rules{gateway.limits(chosen.name), chosen, config.gateway.max_prompt_chars,
                       config.gateway.max_init_image_bytes};
}

uint64_t server_state::draw_seed() const {
  int most_images = 1;
  for (const auto& model : config.models)
    most_images = std::max(most_images, model.max_images_per_request);
  return random_seed(max_seed - uint64_t(most_images));
}

namespace {

actors::generate_order order_within(const generate_request& request, int timeout_s) {
  actors::generate_order order;
  order.id = new_request_id();
  order.model = request.model;
  order.samples = request.samples;
  order.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  return order;
}

}  // namespace

actors::generate_order server_state::new_order(const generate_request& request) const {
  return order_within(request, config.gateway.request_timeout_s);
}

actors::generate_order server_state::new_job_order(const generate_request& request) const {
  return order_within(request, config.gateway.job_timeout_s);
}

void server_state::order_started(uint64_t connection_id, const std::string& order_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  orders_by_connection_[connection_id].insert(order_id);
}

void server_state::order_finished(uint64_t connection_id, const std::string& order_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = orders_by_connection_.find(connection_id);
  if (it == orders_by_connection_.end()) return;
  it->second.erase(order_id);
  if (it->second.empty()) orders_by_connection_.erase(it);
}

void server_state::connection_closed(uint64_t connection_id) noexcept {
  std::vector<std::string> orphans;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = orders_by_connection_.find(connection_id);
    if (it == orders_by_connection_.end()) return;
    orphans.assign(it->second.begin(), it->second.end());
    orders_by_connection_.erase(it);
  }
  for (const auto& id : orphans) {
    try {
      gateway.cancel(id);
    } catch (...) {
      // The order is answered anyway (exactly once, by the gateway); nobody is left to tell.
    }
  }
}

void server_state::run_on_http_thread(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(threads_mutex_);
  if (!post_) {
    lock.unlock();
    task();
    return;
  }
  // The queue, not the io_context, holds the task: on release it runs rather than being
  // dropped with the io_context's unrun handlers.
  queued_.push_back(std::move(task));
  post_([this] { run_queued_task(); });
}

void server_state::run_queued_task() noexcept {
  std::function<void()> task;
  {
    std::lock_guard<std::mutex> lock(threads_mutex_);
    if (queued_.empty()) return;  // run on release
    task = std::move(queued_.front());
    queued_.pop_front();
  }
  try {
    task();
  } catch (const std::exception& error) {
    // Its exchange, dropped unanswered, answers 500 itself.
    actors::log_warning("http", std::string("answering an order: ") + error.what());
  } catch (...) {
    actors::log_warning("http", "answering an order: an exception of unknown type");
  }
}

void server_state::use_http_threads(std::function<void(std::function<void()>)> post) {
  std::lock_guard<std::mutex> lock(threads_mutex_);
  post_ = std::move(post);
}

void server_state::release_http_threads() {
  std::deque<std::function<void()>> left;
  {
    std::lock_guard<std::mutex> lock(threads_mutex_);
    post_ = nullptr;
    left.swap(queued_);
  }
  for (auto& task : left) {
    try {
      task();
    } catch (...) {
      actors::log_warning("http", "answering an order while stopping failed");
    }
  }
}

void server_state::response_pending() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++pending_responses_;
}

void server_state::response_written() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--pending_responses_ <= 0) written_.notify_all();
}

bool server_state::wait_responses_written(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mutex_);
  return written_.wait_for(lock, limit, [&] { return pending_responses_ <= 0; });
}

}  // namespace muse::http
