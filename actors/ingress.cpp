#include "actors/ingress.hpp"

#include <algorithm>
#include <unordered_map>

#include "actors/log.hpp"
#include "actors/model_conversion.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

double elapsed_ms(clock::time_point from, clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

struct open_order {
  order_ticket ticket;
  clock::time_point arrived;
  std::vector<sample_id> sample_ids;  // by sample index
  std::vector<generated_image> images;
  std::vector<bool> finished;
  std::vector<int> steps_done;
  std::vector<std::string> previews;  // each sample's latest live preview (PNG), "" = none yet
  size_t remaining = 0;
  double queue_ms = 0;
  double inference_ms = 0;
  int reported_step = -1;
};

struct ingress_state {
  batcher_actor batcher;
  stats_actor stats;
  std::shared_ptr<shared_status> status;
  std::unordered_map<std::string, open_order> orders;
  // A sample's order and its index there.
  std::unordered_map<sample_id, std::pair<std::string, size_t>> sample_owner;
  sample_id next_sample_id = 1;
  static inline const char* name = "ingress";
};

using ingress_pointer = ingress_actor::stateful_pointer<ingress_state>;

// Calls the client's callback; a throwing callback must not take the actor down.
void deliver(const outcome_callback& done, generate_outcome outcome) {
  if (!done) return;
  try {
    done(std::move(outcome));
  } catch (const std::exception& e) {
    log_warning("ingress", std::string("outcome callback threw: ") + e.what());
  } catch (...) {
    log_warning("ingress", "outcome callback threw");
  }
}

void refuse(ingress_pointer self, order_ticket& ticket, failure f, std::string message) {
  generate_outcome outcome;
  outcome.id = ticket.order.id;
  outcome.error = f;
  outcome.message = std::move(message);
  order_record record;
  record.model = self->state.status->resolve(ticket.order.model);
  record.failure_code = to_code(f);
  self->send(self->state.stats, order_done_atom::value, record);
  deliver(ticket.done, std::move(outcome));
}

// Answers an open order (exactly once: it leaves the table here) and stops what is left of it.
void finish(ingress_pointer self, const std::string& id, std::optional<failure> f,
            std::string message) {
  auto& st = self->state;
  auto it = st.orders.find(id);
  if (it == st.orders.end()) return;
  auto order = std::move(it->second);
  st.orders.erase(it);
  --st.status->open_orders;
  std::vector<sample_id> unfinished;
  for (size_t i = 0; i < order.sample_ids.size(); ++i) {
    st.sample_owner.erase(order.sample_ids[i]);
    if (!order.finished[i]) unfinished.push_back(order.sample_ids[i]);
  }
  if (!unfinished.empty()) self->send(st.batcher, cancel_atom::value, std::move(unfinished));
  auto now = clock::now();
  generate_outcome outcome;
  outcome.id = id;
  outcome.steps = order.ticket.order.samples.empty() ? 0 : order.ticket.order.samples[0].steps;
  outcome.total_ms = elapsed_ms(order.arrived, now);
  order_record record;
  record.model = order.ticket.order.model;
  record.failure_code = to_code(f);
  if (f) {
    outcome.error = f;
    outcome.message = std::move(message);
    log_debug("ingress", "order " + id + " failed: " + to_string(*f) + ": " + outcome.message);
  } else {
    outcome.images = std::move(order.images);
    outcome.queue_ms = order.queue_ms;
    outcome.inference_ms = order.inference_ms;
    record.images = static_cast<uint32_t>(outcome.images.size());
    record.queue_ms = outcome.queue_ms;
    record.inference_ms = outcome.inference_ms;
    record.total_ms = outcome.total_ms;
  }
  self->send(st.stats, order_done_atom::value, record);
  deliver(order.ticket.done, std::move(outcome));
}

void submit(ingress_pointer self, order_ticket& ticket) {
  auto& st = self->state;
  auto& order = ticket.order;
  if (st.status->shutting_down)
    return refuse(self, ticket, failure::shutting_down, "the server is shutting down");
  if (order.samples.empty())
    return refuse(self, ticket, failure::invalid_request, "an order needs at least one image");
  if (st.orders.count(order.id) != 0)
    return refuse(self, ticket, failure::invalid_request, "order id " + order.id + " is in use");
  order.model = st.status->resolve(order.model);
  if (!st.status->serves(order.model))
    return refuse(self, ticket, failure::invalid_request, "unknown model " + order.model);
  // A model scaled to zero starts a worker for the order (the supervisor sees it waiting); the
  // order waits for it within its deadline.
  if (st.status->ready_workers_of(order.model) == 0 && !st.status->scales_to_zero(order.model))
    return refuse(self, ticket, failure::no_worker,
                  "no worker of model " + order.model + " is ready");
  auto now = clock::now();
  if (order.deadline <= now)
    return refuse(self, ticket, failure::timeout, "the deadline passed before the order started");
  open_order open;
  open.arrived = now;
  std::vector<sample_task> tasks;
  for (size_t i = 0; i < order.samples.size(); ++i) {
    auto id = st.next_sample_id++;
    open.sample_ids.push_back(id);
    st.sample_owner[id] = {order.id, i};
    tasks.push_back(sample_task{id, order.id, order.model, to_model(order.samples[i]), 0});
  }
  open.images.resize(order.samples.size());
  open.finished.assign(order.samples.size(), false);
  open.steps_done.assign(order.samples.size(), 0);
  open.previews.assign(order.samples.size(), std::string());
  open.remaining = order.samples.size();
  auto id = order.id;
  auto deadline = order.deadline;
  open.ticket = std::move(ticket);
  st.orders.emplace(id, std::move(open));
  ++st.status->open_orders;
  self->delayed_send(self, deadline - now, timeout_atom::value, id);
  self->request(st.batcher, caf::infinite, enqueue_atom::value, std::move(tasks))
      .then(
          [=](bool admitted) {
            if (admitted)
              self->send(self->state.stats, accepted_atom::value);
            else
              finish(self, id, failure::queue_full, "the queue is full; retry later");
          },
          [=](caf::error& err) {
            finish(self, id, failure::internal, "the batcher is gone: " + to_string(err));
          });
}

void on_result(ingress_pointer self, sample_result& result) {
  auto& st = self->state;
  auto owner = st.sample_owner.find(result.id);
  if (owner == st.sample_owner.end()) return;  // its order was answered already
  auto [order_id, index] = owner->second;
  auto& order = st.orders.at(order_id);
  if (order.finished[index]) return;
  if (auto f = from_code(result.failure_code)) return finish(self, order_id, *f, result.message);
  order.finished[index] = true;
  order.images[index] = generated_image{std::move(result.png), result.seed};
  auto total = elapsed_ms(order.arrived, clock::now());
  order.inference_ms = std::max(order.inference_ms, result.inference_ms);
  order.queue_ms = std::max(order.queue_ms, std::max(0.0, total - result.inference_ms));
  if (--order.remaining == 0) finish(self, order_id, std::nullopt, "");
}

// The steps a sample's progress counts to: an image-to-image sample runs the strength's share.
int steps_to_run(const sample_request& sample) {
  return sample.init_image.width > 0 ? model::image_to_image_steps(sample.steps, sample.strength)
                                     : sample.steps;
}

void on_progress(ingress_pointer self, std::vector<sample_progress>& progress) {
  auto& st = self->state;
  std::vector<std::string> touched;
  std::vector<std::string> previewed;  // orders with a new preview: reported even at the same step
  for (auto& p : progress) {
    auto owner = st.sample_owner.find(p.id);
    if (owner == st.sample_owner.end()) continue;
    auto& order = st.orders.at(owner->second.first);
    // A preview comes from the worker's encoder thread, maybe after a later step's progress.
    int& done = order.steps_done[owner->second.second];
    done = std::max(done, p.step);
    touched.push_back(owner->second.first);
    if (!p.preview_png.empty()) {
      order.previews[owner->second.second] = std::move(p.preview_png);
      previewed.push_back(owner->second.first);
    }
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (auto& id : touched) {
    auto& order = st.orders.at(id);
    if (!order.ticket.progress) continue;
    int slowest = *std::min_element(order.steps_done.begin(), order.steps_done.end());
    int total = 0;
    for (auto& sample : order.ticket.order.samples) total = std::max(total, steps_to_run(sample));
    const bool new_preview = std::find(previewed.begin(), previewed.end(), id) != previewed.end();
    if (slowest <= order.reported_step && !new_preview) continue;
    order.reported_step = std::max(order.reported_step, slowest);
    order_progress report{slowest, total, {}};
    if (new_preview) report.previews = order.previews;
    try {
      order.ticket.progress(report);
    } catch (...) {
      log_warning("ingress", "progress callback threw");
    }
  }
}

ingress_actor::behavior_type ingress(ingress_pointer self, batcher_actor batcher, stats_actor stats,
                                     std::shared_ptr<shared_status> status,
                                     sample_id first_sample_id) {
  self->state.next_sample_id = first_sample_id;
  self->state.batcher = std::move(batcher);
  self->state.stats = std::move(stats);
  self->state.status = std::move(status);
  return {
      [=](submit_atom, order_ticket& ticket) { submit(self, ticket); },
      [=](cancel_atom, std::string& id) { finish(self, id, failure::cancelled, "cancelled"); },
      [=](timeout_atom, std::string& id) {
        finish(self, id, failure::timeout, "the deadline passed");
      },
      [=](result_atom, sample_result& result) { on_result(self, result); },
      [=](progress_atom, std::vector<sample_progress>& progress) { on_progress(self, progress); },
      [=](shutdown_atom) -> uint64_t {
        std::vector<std::string> ids;
        for (auto& entry : self->state.orders) ids.push_back(entry.first);
        for (auto& id : ids)
          finish(self, id, failure::shutting_down,
                 "the server shut down before the order finished");
        return ids.size();
      },
  };
}

}  // namespace

ingress_actor spawn_ingress(caf::actor_system& system, batcher_actor batcher, stats_actor stats,
                            std::shared_ptr<shared_status> status, sample_id first_sample_id) {
  return system.spawn(ingress, std::move(batcher), std::move(stats), std::move(status),
                      first_sample_id);
}

}  // namespace muse::actors
