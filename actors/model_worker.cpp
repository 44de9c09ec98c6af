#include "actors/model_worker.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "actors/log.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

double elapsed_ms(clock::time_point from, clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// What the actor hands to its model thread; the thread picks it up between steps.
struct worker_inbox {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<batch> batches;
  std::vector<sample_id> cancels;
  bool draining = false;
  bool stop = false;
};

// Finished images and live previews become PNGs on this thread, not on the model thread: encoding
// a 512x512 image takes tens of milliseconds of CPU, during which a GPU would otherwise sit idle
// between steps. Results and previews leave in the order they were submitted, so a sample's
// previews come before its result.
class png_encoder {
 public:
  using send_result = std::function<void(sample_result, worker_counters)>;
  using send_preview = std::function<void(sample_progress, worker_counters)>;

  png_encoder(send_result send, send_preview preview)
      : send_(std::move(send)), preview_(std::move(preview)), thread_([this] { run(); }) {}

  ~png_encoder() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // `result` is complete but for its PNG and its inference_ms (from `joined` to the PNG).
  void submit(sample_result result, model::rgb_image image, worker_counters counters,
              clock::time_point joined) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(encoding{std::move(result), std::move(image), counters, joined, {}});
    }
    wake_.notify_all();
  }

  // A live preview of the sample `progress` names, at its step: sent as that progress with the
  // PNG (png_effort::fast: previews are many and small).
  void submit_preview(sample_progress progress, model::rgb_image image, worker_counters counters) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(encoding{{}, std::move(image), counters, {}, std::move(progress)});
    }
    wake_.notify_all();
  }

  // Blocks until every submitted image has been encoded and sent.
  void wait_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

 private:
  struct encoding {
    sample_result result;
    model::rgb_image image;
    worker_counters counters;
    clock::time_point joined;
    std::optional<sample_progress> preview;  // set: a preview, not a result
  };

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      auto next = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      if (next.preview) {
        try {
          next.preview->preview_png = model::encode_png(next.image, model::png_effort::fast);
          preview_(std::move(*next.preview), next.counters);
        } catch (const std::exception& e) {
          log_warning("worker", std::string("preview not sent: ") + e.what());
        }
        lock.lock();
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
        continue;
      }
      try {
        next.result.png = model::encode_png(next.image);
        next.result.inference_ms = elapsed_ms(next.joined, clock::now());
      } catch (const std::exception& e) {
        next.result.failure_code = to_code(failure::internal);
        next.result.message = std::string("PNG encoding: ") + e.what();
      }
      send_(std::move(next.result), next.counters);
      lock.lock();
      busy_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }

  send_result send_;
  send_preview preview_;
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<encoding> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// The model thread: everything blocking happens here.
class model_loop {
 public:
  model_loop(std::shared_ptr<worker_inbox> inbox, worker_options options, generator_factory factory,
             caf::weak_actor_ptr owner)
      : inbox_(std::move(inbox)),
        options_(std::move(options)),
        factory_(std::move(factory)),
        owner_(std::move(owner)),
        encoder_(
            [this](sample_result result, worker_counters counters) {
              tell(result_atom::value, std::move(result), counters);
            },
            [this](sample_progress preview, worker_counters counters) {
              tell(progress_atom::value, std::vector<sample_progress>{std::move(preview)},
                   counters);
            }) {
    const auto rows = static_cast<size_t>(std::max(1, options_.max_batch_size));
    counters_.calls_by_rows.assign(rows, 0);
    counters_.busy_s_by_rows.assign(rows, 0.0);
  }

  void run() {
    std::unique_ptr<model::generator> generator;
    try {
      generator = factory_(options_);
      running_ = generator->start_batch();
    } catch (const std::exception& e) {
      tell(load_failed_atom::value, std::string(e.what()));
      return;
    }
    tell(loaded_atom::value, worker_info{options_.id, generator->name(), generator->limits()});
    while (take_inbox()) {
      // Busy from here: joining encodes the new samples' prompts, then the step runs.
      auto busy_since = clock::now();
      join_pending();
      if (joined_.empty()) {
        if (draining_ && pending_.empty()) {
          encoder_.wait_idle();
          tell(drained_atom::value);
          return;
        }
        continue;
      }
      if (!step(busy_since)) return;
    }
  }

 private:
  struct live_sample {
    sample_task task;
    uint64_t batch_id = 0;
    batch_key key;
    clock::time_point received;
    clock::time_point joined;
    int step = 0;
  };

  template <class... Ts>
  void tell(Ts&&... xs) {
    if (auto owner = owner_.lock())
      caf::anon_send(caf::actor_cast<worker_actor>(owner), std::forward<Ts>(xs)...);
  }

  // Waits for something to do; false when the actor is gone.
  bool take_inbox() {
    std::vector<sample_id> cancels;
    {
      std::unique_lock<std::mutex> lock(inbox_->mutex);
      inbox_->wake.wait(lock, [&] {
        return inbox_->stop || !inbox_->batches.empty() || !inbox_->cancels.empty() ||
               !joined_.empty() || !pending_.empty() || inbox_->draining;
      });
      if (inbox_->stop) return false;
      auto now = clock::now();
      for (auto& b : inbox_->batches)
        for (auto& task : b.samples)
          pending_.push_back(live_sample{std::move(task), b.id, b.key, now, now, 0});
      inbox_->batches.clear();
      cancels.swap(inbox_->cancels);
      draining_ = inbox_->draining;
    }
    for (auto id : cancels) cancel(id);
    return true;
  }

  void cancel(sample_id id) {
    if (auto it = joined_.find(id); it != joined_.end()) {
      running_->remove(id);
      counters_.steps_saved += static_cast<uint64_t>(
          std::max(model::denoising_steps(it->second.task.request) - it->second.step, 0));
      joined_.erase(it);
      answer_failure(id, failure::cancelled, "cancelled");
      return;
    }
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->task.id == id) {
        counters_.steps_saved += static_cast<uint64_t>(model::denoising_steps(it->task.request));
        pending_.erase(it);
        answer_failure(id, failure::cancelled, "cancelled");
        return;
      }
    }
  }

  void answer_failure(sample_id id, failure f, std::string message) {
    sample_result result;
    result.id = id;
    result.failure_code = to_code(f);
    result.message = std::move(message);
    tell(result_atom::value, std::move(result), counters_);
  }

  // Step-level: samples of the running batch's key (size and scheduler, whatever their steps and
  // guidance) join up to max_batch_size. Otherwise a new batch starts only once the running one
  // is done, and only with the samples it came with.
  void join_pending() {
    bool idle = joined_.empty();
    if (idle && !pending_.empty()) {
      running_key_ = pending_.front().key;
      running_batch_id_ = pending_.front().batch_id;
    }
    if (!idle && !options_.step_level) return;
    auto limit = static_cast<size_t>(std::max(1, options_.max_batch_size));
    auto now = clock::now();
    for (auto it = pending_.begin(); it != pending_.end() && joined_.size() < limit;) {
      bool fits = options_.step_level ? it->key == running_key_ : it->batch_id == running_batch_id_;
      if (!fits) {
        ++it;
        continue;
      }
      try {
        running_->add(it->task.id, it->task.request);
      } catch (const std::exception& e) {
        answer_failure(it->task.id, failure::invalid_request, e.what());
        it = pending_.erase(it);
        continue;
      }
      it->joined = now;
      joined_.emplace(it->task.id, std::move(*it));
      it = pending_.erase(it);
    }
  }

  // One denoising step for the running batch; false if the model failed (the worker dies).
  bool step(clock::time_point busy_since) {
    auto size = running_->size();
    std::vector<model::step_report> reports;
    try {
      reports = running_->step();
    } catch (const std::exception& e) {
      tell(crashed_atom::value, std::string(e.what()));
      return false;
    }
    const double busy_s = std::chrono::duration<double>(clock::now() - busy_since).count();
    counters_.busy_s += busy_s;
    ++counters_.model_calls;
    if (size > 0) {
      if (size > counters_.calls_by_rows.size()) {
        counters_.calls_by_rows.resize(size, 0);
        counters_.busy_s_by_rows.resize(size, 0.0);
      }
      ++counters_.calls_by_rows[size - 1];
      counters_.busy_s_by_rows[size - 1] += busy_s;
    }
    counters_.sample_steps += size;
    log_debug("worker " + options_.id, "step with " + std::to_string(size) + " samples");
    std::vector<sample_progress> progress;
    for (auto& report : reports) {
      auto it = joined_.find(report.tag);
      if (it == joined_.end()) continue;
      it->second.step = report.step;
      progress.push_back(sample_progress{report.tag, report.step, report.total_steps, {}});
      if (report.preview.width > 0)
        encoder_.submit_preview(progress.back(), std::move(report.preview), counters_);
    }
    if (!progress.empty()) tell(progress_atom::value, std::move(progress), counters_);
    for (auto& report : reports)
      if (report.finished) finish(report);
    return true;
  }

  void finish(model::step_report& report) {
    auto it = joined_.find(report.tag);
    if (it == joined_.end()) return;
    auto sample = std::move(it->second);
    joined_.erase(it);
    sample_result result;
    result.id = sample.task.id;
    result.seed = sample.task.request.seed;
    result.steps = report.total_steps;
    result.wait_ms = elapsed_ms(sample.received, sample.joined);
    ++counters_.images;
    encoder_.submit(std::move(result), std::move(report.image), counters_, sample.joined);
  }

  std::shared_ptr<worker_inbox> inbox_;
  worker_options options_;
  generator_factory factory_;
  caf::weak_actor_ptr owner_;
  std::unique_ptr<model::running_batch> running_;
  std::deque<live_sample> pending_;
  std::map<sample_id, live_sample> joined_;
  batch_key running_key_;
  uint64_t running_batch_id_ = 0;
  bool draining_ = false;
  worker_counters counters_;
  png_encoder encoder_;  // last: its thread may call tell() until it is joined
};

struct worker_state {
  std::shared_ptr<worker_inbox> inbox = std::make_shared<worker_inbox>();
  std::thread thread;
  std::optional<worker_info> info;
  std::vector<caf::typed_response_promise<worker_info>> load_waiters;
  // The client (a gateway's balancer) of each sample held, and the clients watched: several
  // gateways may share the worker (watch_client).
  std::unordered_map<sample_id, worker_client_actor> clients;
  std::set<caf::actor_addr> watched;
  std::string id;

  ~worker_state() {
    {
      std::lock_guard<std::mutex> lock(inbox->mutex);
      inbox->stop = true;
    }
    inbox->wake.notify_all();
    if (thread.joinable()) thread.join();
  }
  static inline const char* name = "model_worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

template <class F>
void with_inbox(worker_pointer self, F change) {
  {
    std::lock_guard<std::mutex> lock(self->state.inbox->mutex);
    change(*self->state.inbox);
  }
  self->state.inbox->wake.notify_all();
}

// The worker serves the actors that load it and send it work (the balancers of the gateways
// sharing it; one with a single gateway). It monitors each: when one goes, the samples it sent
// are cancelled (nobody takes their results; its gateway has requeued them nowhere else but in
// its own process, which is gone). When the last goes, or the links to their processes do (a
// partition, a stopped or dead gateway), nobody can take the worker's results any more: it stops
// at the next step rather than compute for nobody (and, on a GPU, hold a model's memory) beside
// its replacement.
void watch_client(worker_pointer self) {
  auto sender = self->current_sender();
  if (!sender) return;
  if (self->state.watched.insert(caf::actor_cast<caf::actor_addr>(sender)).second)
    self->monitor(sender);
}

void lose_client(worker_pointer self, const caf::actor_addr& client) {
  auto& st = self->state;
  std::vector<sample_id> orphans;
  for (auto it = st.clients.begin(); it != st.clients.end();) {
    if (it->second.address() == client) {
      orphans.push_back(it->first);
      it = st.clients.erase(it);
    } else {
      ++it;
    }
  }
  if (orphans.empty()) return;
  with_inbox(self, [&](worker_inbox& inbox) {
    inbox.cancels.insert(inbox.cancels.end(), orphans.begin(), orphans.end());
  });
}

worker_actor::behavior_type model_worker(worker_pointer self, worker_options options,
                                         generator_factory factory) {
  auto who = "worker " + options.id;
  self->state.id = options.id;
  self->set_down_handler([=](caf::down_msg& down) {
    if (self->state.watched.erase(down.source) == 0) return;
    lose_client(self, down.source);
    if (!self->state.watched.empty()) {
      log_warning(who, "lost a gateway (" + self->system().render(down.reason) + "); " +
                           std::to_string(self->state.watched.size()) + " left");
      return;
    }
    log_warning(who, "lost the gateway (" + self->system().render(down.reason) + "); stopping");
    self->quit(caf::exit_reason::remote_link_unreachable);
  });
  log_info(who, "loading model on " + options.node + "/" + options.device);
  auto loop = std::make_shared<model_loop>(self->state.inbox, options, std::move(factory),
                                           caf::actor_cast<caf::weak_actor_ptr>(self));
  self->state.thread = std::thread([loop] { loop->run(); });
  return {
      [=](load_atom) -> caf::result<worker_info> {
        watch_client(self);
        if (self->state.info) return *self->state.info;
        auto promise = self->make_response_promise<worker_info>();
        self->state.load_waiters.push_back(promise);
        return promise;
      },
      [=](run_atom, batch& b) {
        auto client = caf::actor_cast<worker_client_actor>(self->current_sender());
        for (auto& task : b.samples) self->state.clients[task.id] = client;
        watch_client(self);
        with_inbox(self, [&](worker_inbox& inbox) { inbox.batches.push_back(std::move(b)); });
      },
      [=](cancel_atom, std::vector<sample_id>& ids) {
        with_inbox(self, [&](worker_inbox& inbox) {
          inbox.cancels.insert(inbox.cancels.end(), ids.begin(), ids.end());
        });
      },
      [=](drain_atom) {
        log_info(who, "draining");
        with_inbox(self, [](worker_inbox& inbox) { inbox.draining = true; });
      },
      [=](loaded_atom, worker_info& info) {
        log_info(who, "ready: model " + info.model_name);
        self->state.info = info;
        for (auto& waiter : self->state.load_waiters) waiter.deliver(info);
        self->state.load_waiters.clear();
      },
      [=](load_failed_atom, std::string& why) {
        log_warning(who, "model failed to load: " + why);
        auto err = caf::make_error(caf::sec::runtime_error, "model failed to load: " + why);
        for (auto& waiter : self->state.load_waiters) waiter.deliver(err);
        self->quit(err);
      },
      [=](crashed_atom, std::string& why) {
        log_warning(who, "model failed while running: " + why);
        self->quit(caf::make_error(caf::sec::runtime_error, "model failed: " + why));
      },
      [=](drained_atom) {
        log_info(who, "drained, stopping");
        self->quit();
      },
      [=](result_atom, sample_result& result, worker_counters& counters) {
        auto& clients = self->state.clients;
        auto client = clients.find(result.id);
        if (client == clients.end()) return;  // its gateway is gone
        auto to = client->second;
        clients.erase(client);
        self->send(to, result_atom::value, std::move(result), counters);
      },
      [=](progress_atom, std::vector<sample_progress>& progress, worker_counters& counters) {
        std::map<caf::actor_addr, std::pair<worker_client_actor, std::vector<sample_progress>>>
            per_client;
        for (auto& p : progress)
          if (auto client = self->state.clients.find(p.id); client != self->state.clients.end()) {
            auto& entry = per_client[client->second.address()];
            entry.first = client->second;
            entry.second.push_back(p);
          }
        for (auto& [address, entry] : per_client)
          self->send(entry.first, progress_atom::value, std::move(entry.second), counters);
      },
  };
}

}  // namespace

generator_factory production_generator_factory() {
  return [](const worker_options& options) {
    return model::load_generator(
        model::generator_options{options.model, options.device, options.workers_on_device});
  };
}

worker_actor spawn_model_worker(caf::actor_system& system, worker_options options,
                                generator_factory factory) {
  return system.spawn(model_worker, std::move(options), std::move(factory));
}

void add_model_worker_type(
    caf::actor_system_config& config,
    std::function<void(const worker_actor&, const worker_options&)> on_spawn) {
  config.add_actor_type("model_worker", [on_spawn](worker_pointer self, worker_options options) {
    if (on_spawn) on_spawn(caf::actor_cast<worker_actor>(self), options);
    return model_worker(self, std::move(options), production_generator_factory());
  });
}

worker_options make_worker_options(const config::deployment_config& config,
                                   const config::model_config& model, std::string id,
                                   std::string node, std::string device) {
  worker_options options;
  options.id = std::move(id);
  options.node = std::move(node);
  options.device = std::move(device);
  options.model_name = model.name;
  options.model = model;  // the settings part; the request defaults stay with the gateway
  for (const auto& gpu_node : config.gpu_nodes)
    if (gpu_node.name == options.node) options.workers_on_device = gpu_node.slots_per_device;
  options.max_batch_size = config.batching.max_batch_size;
  options.step_level = config.batching.step_level;
  return options;
}

}  // namespace muse::actors
