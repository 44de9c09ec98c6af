// Asynchronous jobs: POST answers 202 at once; the order runs on, its progress and outcome kept
// in the job store, to be polled (GET), followed as server-sent events, or cancelled (DELETE).
// A job is not tied to the connection that created it. Its order takes the one order path
// (order.hpp): the store takes the outcome as the gateway delivers it (so a GET right after sees
// it), and the events' PNGs are encoded on an HTTP thread.

#include <chrono>

#include "http/form_request.hpp"
#include "http/frontend_routes.hpp"
#include "http/generate_request.hpp"
#include "http/order.hpp"
#include "http/sse_stream.hpp"

namespace muse::http {
namespace {

std::string job_path(const std::string& id) { return "/api/v1/jobs/" + id; }

nlohmann::json created_shape(const job_snapshot& job) {
  nlohmann::json out = job.to_json(false);
  out["urls"] = {{"self", job_path(job.id)}, {"events", job_path(job.id) + "/events"}};
  return out;
}

void create_job(const std::shared_ptr<exchange>& ex, const std::shared_ptr<job_store>& jobs) {
  server_state& state = ex->state();
  state.admit_generation();
  generate_request request =
      validate_order(state, read_generate_input(ex->content_type(), ex->body()));
  actors::generate_order order = state.new_job_order(request);
  const std::string id = order.id;
  // A model scaled to zero: the job waits for a worker to load it, and says so.
  const std::string waiting_for =
      state.gateway.ready_workers(request.model) == 0 ? "loading model" : "";
  if (!jobs->create(id, request.denoising_steps, waiting_for))
    throw api_error(429, "too_many_jobs", "too many jobs are unfinished; try again later");
  // As created: queued, with its place in the queue (before the gateway can report a step).
  job_snapshot created = *jobs->find(id);

  std::weak_ptr<job_store> weak = jobs;
  order_handling handling;  // not tied to the connection: the job outlives it
  handling.ended = [weak, id](const actors::generate_outcome& outcome) {
    if (auto store = weak.lock()) store->finish(id, outcome);
  };
  handling.progress = [weak, id](const actors::order_progress& progress) {
    if (auto store = weak.lock()) store->progress(id, progress);
  };
  try {
    submit_order(ex->shared_state(), std::move(order), std::move(handling));
  } catch (const std::exception& error) {
    // Never submitted: the job must not wait forever.
    actors::generate_outcome failed;
    failed.id = id;
    failed.error = actors::failure::internal;
    failed.message = error.what();
    jobs->finish(id, failed);
    throw;
  }
  ex->send_json(202, created_shape(created), {{"Location", job_path(id)}, {"X-Request-Id", id}});
}

job_snapshot find_job(const std::shared_ptr<exchange>& ex, job_store& jobs) {
  const std::string& id = ex->params().at("id");
  auto job = jobs.find(id);
  if (!job)
    throw api_error(404, "not_found", "no job " + id + " (unknown, or its results expired)");
  return *job;
}

void cancel_job(const std::shared_ptr<exchange>& ex, job_store& jobs) {
  job_snapshot job = find_job(ex, jobs);
  if (job.finished()) {
    // Cancelling what already ended deletes its results.
    jobs.forget(job.id);
    ex->send_text(204, "application/json", "");
    return;
  }
  ex->state().gateway.cancel(job.id);
  auto now = jobs.find(job.id);
  ex->send_json(202, (now ? *now : job).to_json(false));
}

// Events: "status" now (the job as GET shows it, without images) and again whenever a queued job's
// queue position changes, "progress" {step, total, previews?} as steps complete and previews
// come, then one of "done" (with images), "failed", "cancelled", and the stream ends.
void follow_job(const std::shared_ptr<exchange>& ex, job_store& jobs) {
  job_snapshot job = find_job(ex, jobs);
  auto start = ex->start_stream(200);
  auto stream =
      std::make_shared<sse_stream>(std::move(start.request), std::move(start.state), start.headers);
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto first = std::make_shared<std::atomic<bool>>(true);
  auto state = ex->shared_state();
  bool known =
      jobs.subscribe(job.id, [stream, finished, first, state](const job_snapshot& snapshot) {
        if (finished->load()) return;
        if (snapshot.finished()) {
          if (finished->exchange(true)) return;
          // The images' base64 is built on an HTTP thread, not on the gateway's that finished the
          // job.
          state->run_on_http_thread([stream, snapshot] {
            stream->send(to_string(snapshot.status), snapshot.to_json(true).dump());
            stream->close();
          });
          return;
        }
        if (first->exchange(false) || snapshot.status == job_status::queued)
          stream->send("status", snapshot.to_json(false).dump());
        else
          stream->send("progress", snapshot.progress_json().dump());
      });
  if (!known) {
    // Expired between the lookup and the subscription.
    stream->send("failed", api_error(404, "not_found", "no job " + job.id).body().dump());
    stream->close();
  }
}

}  // namespace

void add_job_routes(route_table& table, std::shared_ptr<job_store> jobs) {
  table.add("POST", "/api/v1/jobs",
            [jobs](const std::shared_ptr<exchange>& ex) { create_job(ex, jobs); });
  table.add("GET", "/api/v1/jobs/{id}", [jobs](const std::shared_ptr<exchange>& ex) {
    ex->send_json(200, find_job(ex, *jobs).to_json(true));
  });
  table.add("DELETE", "/api/v1/jobs/{id}",
            [jobs](const std::shared_ptr<exchange>& ex) { cancel_job(ex, *jobs); });
  table.add("GET", "/api/v1/jobs/{id}/events",
            [jobs](const std::shared_ptr<exchange>& ex) { follow_job(ex, *jobs); });
}

}  // namespace muse::http
