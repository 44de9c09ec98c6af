#pragma once
// A stand-in for actors::gateway, for the suites that test http/ without actors. It answers in
// one of two ways, chosen when it is made:
// - answers::by_prompt: from a thread of its own, as the actor system does. The prompt steers
//   it: "fail:<failure>" answers that failure, "hold" waits until release_held() or a cancel;
//   anything else gets one image per sample whose PNG bytes spell the seed (fake_png).
// - answers::scripted: every order waits until the test reports its progress, completes it or
//   cancels it; callbacks then run on the test's thread, as they would on an actor's.
// Orders that wait are "held" in both.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actors/gateway.hpp"

namespace muse::testing {

class fake_gateway : public actors::gateway {
 public:
  enum class answers { by_prompt, scripted };

  explicit fake_gateway(answers mode = answers::by_prompt) : mode_(mode) {}
  ~fake_gateway() override { shutdown(std::chrono::milliseconds(0)); }

  static std::string fake_png(uint64_t seed) { return "\x89PNG-fake-" + std::to_string(seed); }

  void submit(actors::generate_order order, actors::outcome_callback done,
              actors::progress_callback progress) override {
    std::unique_lock<std::mutex> lock(mutex_);
    submitted_.push_back(order);
    changed_.notify_all();
    if (shutting_down_) {
      lock.unlock();
      done(failed(order.id, actors::failure::shutting_down));
      return;
    }
    if (mode_ == answers::scripted || order.samples.at(0).prompt == "hold") {
      std::string id = order.id;
      held_[id] = held_order{std::move(order), std::move(done), std::move(progress)};
      return;
    }
    threads_.emplace_back([order = std::move(order), done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      done(answer(order));
    });
  }

  void cancel(const std::string& order_id) override {
    actors::outcome_callback done;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_.push_back(order_id);
      changed_.notify_all();
      auto it = held_.find(order_id);
      if (it == held_.end()) return;
      done = std::move(it->second.done);
      held_.erase(it);
    }
    done(failed(order_id, actors::failure::cancelled));
  }

  // ---- driving held orders ----

  // Reports progress of a held order through its progress callback (with previews: one PNG
  // per image, "" for an image without one yet).
  void progress(const std::string& id, int step, int total,
                std::vector<std::string> previews = {}) {
    actors::progress_callback callback;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      callback = held_.at(id).progress;
    }
    if (callback) callback(actors::order_progress{step, total, std::move(previews)});
  }

  // Answers a held order with one PNG per sample, or with `error`.
  void complete(const std::string& id, std::optional<actors::failure> error = std::nullopt) {
    held_order held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held = std::move(held_.at(id));
      held_.erase(id);
    }
    held.done(error ? failed(id, *error) : images_for(held.order));
  }

  // Answers every held order with images.
  void release_held() {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [id, held] : held_) ids.push_back(id);
    }
    for (const auto& id : ids) complete(id);
  }

  // ---- what the test reads ----

  bool wait_held(size_t count, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return held_.size() >= count; });
  }
  // Waits until `count` orders were submitted in all; returns the last one's id ("" if none).
  std::string wait_submitted(size_t count,
                             std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return submitted_.size() >= count; });
    return submitted_.size() >= count ? submitted_[count - 1].id : "";
  }
  bool wait_cancelled(const std::string& id, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return cancelled(id); });
  }
  bool was_cancelled(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled(id);
  }
  std::vector<actors::generate_order> submitted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submitted_;
  }
  // A held order as it was submitted.
  actors::generate_order order(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.at(id).order;
  }
  std::string held_id() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.empty() ? "" : held_.begin()->first;
  }
  size_t held_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.size();
  }

  // ---- the rest of the gateway ----

  bool ready() const override { return ready_; }
  // One worker per model while ready_, none for the models in scaled_to_zero_.
  int ready_workers(const std::string& model = "") const override {
    return ready_ && scaled_to_zero_.count(model) == 0 ? 1 : 0;
  }
  std::set<std::string> scaled_to_zero_;
  // The models its stats list (each with limits(), one ready worker while ready_).
  std::vector<std::string> model_names_ = {"muse-tiny"};
  actors::model_limits limits(const std::string& = "") const override {
    actors::model_limits limits;
    limits.min_size = 32;
    limits.max_size = 128;
    limits.size_multiple = 16;
    limits.max_steps = 100;
    limits.schedulers = {"ddim"};
    return limits;
  }
  // A snapshot with a few figures set, answered from a thread of its own as the actors do; a
  // "no snapshot" reply once no_snapshot_ is set.
  void stats(actors::stats_callback done) const override {
    actors::stats_reply reply;
    if (no_snapshot_) {
      reply.ready = ready_;
      reply.error = "fake: no snapshot";
    } else {
      actors::stats_snapshot snapshot;
      snapshot.ready = ready_;
      snapshot.queue = actors::queue_figures{};
      snapshot.queue->max = 10;
      snapshot.orders.accepted = 7;
      snapshot.model = actors::served_model{"fake", limits()};
      for (const auto& name : model_names_) {
        actors::model_figures model;
        model.name = name;
        model.limits = limits(name);
        model.ready_workers = ready_ ? 1 : 0;
        snapshot.models.push_back(model);
      }
      reply.snapshot = snapshot;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    threads_.emplace_back([reply = std::move(reply), done = std::move(done)] { done(reply); });
  }
  // Waits for the answering threads, then answers every held order shutting_down.
  void shutdown(std::chrono::milliseconds) override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutting_down_ = true;
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    std::map<std::string, held_order> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held.swap(held_);
    }
    for (auto& [id, order] : held) order.done(failed(id, actors::failure::shutting_down));
  }

  std::atomic<bool> ready_{true};
  std::atomic<bool> no_snapshot_{false};

 private:
  struct held_order {
    actors::generate_order order;
    actors::outcome_callback done;
    actors::progress_callback progress;
  };

  bool cancelled(const std::string& id) const {
    for (const auto& c : cancelled_)
      if (c == id) return true;
    return false;
  }

  static actors::generate_outcome failed(const std::string& id, actors::failure f) {
    actors::generate_outcome outcome;
    outcome.id = id;
    outcome.error = f;
    outcome.message = std::string("fake: ") + actors::to_string(f);
    return outcome;
  }

  static actors::generate_outcome images_for(const actors::generate_order& order) {
    actors::generate_outcome outcome;
    outcome.id = order.id;
    outcome.steps = order.samples.at(0).steps;
    outcome.queue_ms = 1.5;
    outcome.inference_ms = 10;
    outcome.total_ms = 11.5;
    for (const auto& sample : order.samples)
      outcome.images.push_back({fake_png(sample.seed), sample.seed});
    return outcome;
  }

  static actors::generate_outcome answer(const actors::generate_order& order) {
    static const std::map<std::string, actors::failure> failures = {
        {"fail:queue_full", actors::failure::queue_full},
        {"fail:no_worker", actors::failure::no_worker},
        {"fail:timeout", actors::failure::timeout},
        {"fail:internal", actors::failure::internal},
        {"fail:invalid_request", actors::failure::invalid_request},
        {"fail:shutting_down", actors::failure::shutting_down}};
    if (auto it = failures.find(order.samples.at(0).prompt); it != failures.end())
      return failed(order.id, it->second);
    return images_for(order);
  }

  const answers mode_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<actors::generate_order> submitted_;
  std::vector<std::string> cancelled_;
  std::map<std::string, held_order> held_;
  mutable std::vector<std::thread> threads_;
  bool shutting_down_ = false;
};

}  // namespace muse::testing
