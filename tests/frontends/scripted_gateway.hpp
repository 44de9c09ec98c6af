#pragma once
// A stand-in for actors::gateway that the test drives step by step: every order waits until the
// test reports its progress, completes it, or it is cancelled. Callbacks run on the test's
// thread, as they would on an actor thread.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actors/gateway.hpp"

namespace muse::testing {

class scripted_gateway : public actors::gateway {
 public:
  struct pending {
    actors::generate_order order;
    actors::outcome_callback done;
    actors::progress_callback progress;
  };

  static std::string fake_png(uint64_t seed) { return "\x89PNG-scripted-" + std::to_string(seed); }

  void submit(actors::generate_order order, actors::outcome_callback done,
              actors::progress_callback progress) override {
    std::lock_guard<std::mutex> lock(mutex_);
    order_ids_.push_back(order.id);
    std::string id = order.id;
    pending_[id] = pending{std::move(order), std::move(done), std::move(progress)};
    changed_.notify_all();
  }

  void cancel(const std::string& order_id) override {
    actors::outcome_callback done;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_.push_back(order_id);
      auto it = pending_.find(order_id);
      if (it == pending_.end()) return;
      done = std::move(it->second.done);
      pending_.erase(it);
    }
    actors::generate_outcome outcome;
    outcome.id = order_id;
    outcome.error = actors::failure::cancelled;
    outcome.message = "cancelled";
    done(outcome);
  }

  // Waits until `count` orders were submitted in all; returns the last one's id ("" if none).
  std::string wait_submitted(size_t count, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return order_ids_.size() >= count; });
    return order_ids_.size() >= count ? order_ids_[count - 1] : "";
  }

  actors::generate_order order(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return pending_.at(id).order;
  }

  void progress(const std::string& id, int step, int total) {
    actors::progress_callback callback;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      callback = pending_.at(id).progress;
    }
    if (callback) callback(step, total);
  }

  // Answers the order with one PNG per sample (or with `error`).
  void complete(const std::string& id, std::optional<actors::failure> error = std::nullopt) {
    pending p;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      p = std::move(pending_.at(id));
      pending_.erase(id);
    }
    actors::generate_outcome outcome;
    outcome.id = id;
    outcome.steps = p.order.samples.at(0).steps;
    if (error) {
      outcome.error = error;
      outcome.message = std::string("scripted ") + actors::to_string(*error);
    } else {
      for (const auto& sample : p.order.samples)
        outcome.images.push_back({fake_png(sample.seed), sample.seed});
    }
    p.done(outcome);
  }

  bool was_cancelled(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& c : cancelled_)
      if (c == id) return true;
    return false;
  }
  size_t pending_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return pending_.size();
  }

  bool ready() const override { return true; }
  actors::model_limits limits() const override {
    actors::model_limits limits;
    limits.min_size = 32;
    limits.max_size = 128;
    limits.size_multiple = 16;
    limits.max_steps = 100;
    limits.schedulers = {"ddim"};
    return limits;
  }
  void stats(actors::stats_callback done) const override {
    done(actors::stats_reply{actors::stats_snapshot{}, true, {}});
  }
  void shutdown(std::chrono::milliseconds) override {
    std::map<std::string, pending> left;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      left.swap(pending_);
    }
    for (auto& [id, p] : left) {
      actors::generate_outcome outcome;
      outcome.id = id;
      outcome.error = actors::failure::shutting_down;
      p.done(outcome);
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> order_ids_;
  std::vector<std::string> cancelled_;
  std::map<std::string, pending> pending_;
};

}  // namespace muse::testing
