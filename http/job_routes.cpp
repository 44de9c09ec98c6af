// Asynchronous jobs: POST answers 202 at once; the order runs on, its progress and outcome kept
// in the job store, to be polled (GET), followed as server-sent events, listed, or cancelled
// (DELETE). A job is not tied to the connection that created it; it belongs to the API key that
// created it, and to no other: another key's job answers 404, as an unknown one. Its order takes
// the one order path (order.hpp): the store takes the outcome as the gateway delivers it (so a GET
// right after sees it), the events' PNGs are encoded on an HTTP thread, and a webhook's body on
// the delivery thread (webhook_delivery.hpp).

#include <chrono>
#include <map>
#include <restinio/all.hpp>

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

// The job's final state as its webhook gets it: the GET shape, PNGs included; its own delivery
// state is what this body decides, so it is left out.
std::string webhook_body(const job_snapshot& job) {
  nlohmann::json body = job.to_json(true);
  body.erase("webhook");
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Hands a finished job to the delivery thread, which reports back into the store.
void deliver_webhook(const std::shared_ptr<server_state>& state,
                     const std::weak_ptr<job_store>& jobs, const job_snapshot& job) {
  if (!job.webhook) return;
  const std::string id = job.id;
  state->webhooks.post(
      id, job.webhook->url, [job] { return webhook_body(job); },
      [jobs, id](webhook_state delivery, int attempts) {
        if (auto store = jobs.lock()) store->webhook_progress(id, delivery, attempts);
      });
}

void create_job(const std::shared_ptr<exchange>& ex, const std::shared_ptr<job_store>& jobs) {
  server_state& state = ex->state();
  state.admit_generation();
  const generate_fields fields =
      read_generate_input(ex->content_type(), ex->body(), native_route::job);
  generate_request request = validate_order(state, fields);
  job_origin origin{ex->caller(), ""};
  if (fields.webhook) origin.webhook_url = state.webhooks.accepted_url(*fields.webhook);
  actors::generate_order order = state.new_job_order(request);
  const std::string id = order.id;
  // A model scaled to zero: the job waits for a worker to load it, and says so.
  const std::string waiting_for =
      state.gateway.ready_workers(request.model) == 0 ? "loading model" : "";
  const bool has_webhook = !origin.webhook_url.empty();
  if (!jobs->create(id, request.denoising_steps, waiting_for, std::move(origin)))
    throw api_error(429, "too_many_jobs", "too many jobs are unfinished; try again later");
  // As created: queued, with its place in the queue (before the gateway can report a step).
  job_snapshot created = *jobs->find(id);

  std::weak_ptr<job_store> weak = jobs;
  std::weak_ptr<server_state> weak_state = ex->shared_state();
  order_handling handling;  // not tied to the connection: the job outlives it
  handling.ended = [weak, weak_state, id, has_webhook](const actors::generate_outcome& outcome) {
    auto store = weak.lock();
    if (!store) return;
    store->finish(id, outcome);
    if (!has_webhook) return;
    // The snapshot holds the PNGs as bytes; their base64 is made on the delivery thread.
    auto state = weak_state.lock();
    auto finished = store->find(id);
    if (state && finished) deliver_webhook(state, weak, *finished);
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

// The caller's job of the path's id; another caller's is not found either, so its existence is
// not told.
job_snapshot find_job(const std::shared_ptr<exchange>& ex, job_store& jobs) {
  const std::string& id = ex->params().at("id");
  auto job = jobs.find(id);
  if (!job || job->owner != ex->caller())
    throw api_error(404, "not_found", "no job " + id + " (unknown, or its results expired)");
  return *job;
}

constexpr size_t default_list_limit = 50;
constexpr int64_t max_list_limit = 1000;

// The query string's parameters by name. A query that is not URL encoding, a bare word, or a
// parameter given twice is a 400.
std::map<std::string, std::string> query_parameters(const exchange& ex) {
  auto query = restinio::try_parse_query<restinio::parse_query_traits::x_www_form_urlencoded>(
      ex.request().header().query());
  if (!query) throw api_error(400, "invalid_request", "the query string is not name=value pairs");
  if (auto tag = query->tag()) {
    const std::string word(tag->data(), tag->size());
    throw invalid_field(word, "the query names '" + word + "' without a value");
  }
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : *query)
    if (!out.emplace(std::string(name.data(), name.size()), std::string(value.data(), value.size()))
             .second)
      throw invalid_field(std::string(name.data(), name.size()),
                          std::string(name.data(), name.size()) + " is given twice");
  return out;
}

// GET /api/v1/jobs?limit=N&status=S: the caller's jobs, newest first, without their PNGs.
void list_jobs(const std::shared_ptr<exchange>& ex, job_store& jobs) {
  size_t limit = default_list_limit;
  std::optional<job_status> status;
  for (const auto& [name, value] : query_parameters(*ex)) {
    if (name == "limit") {
      const bool digits = !value.empty() && value.size() <= 7 &&
                          value.find_first_not_of("0123456789") == std::string::npos;
      const int64_t n = digits ? std::stoll(value) : 0;
      if (n < 1 || n > max_list_limit)
        throw invalid_field("limit", "limit must be an integer in 1.." +
                                         std::to_string(max_list_limit) + ", got \"" + value +
                                         "\"");
      limit = size_t(n);
    } else if (name == "status") {
      status = job_status_named(value);
      if (!status)
        throw invalid_field(
            "status", "status must be one of queued, running, done, failed, cancelled; got \"" +
                          value + "\"");
    } else {
      throw unknown_field(name, {"limit", "status"}, " in the query");
    }
  }
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& job : jobs.list(ex->caller(), status, limit))
    listed.push_back(job.to_json(false));
  ex->send_json(200, {{"jobs", std::move(listed)}});
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
  table.add("GET", "/api/v1/jobs",
            [jobs](const std::shared_ptr<exchange>& ex) { list_jobs(ex, *jobs); });
  table.add("GET", "/api/v1/jobs/{id}", [jobs](const std::shared_ptr<exchange>& ex) {
    ex->send_json(200, find_job(ex, *jobs).to_json(true));
  });
  table.add("DELETE", "/api/v1/jobs/{id}",
            [jobs](const std::shared_ptr<exchange>& ex) { cancel_job(ex, *jobs); });
  table.add("GET", "/api/v1/jobs/{id}/events",
            [jobs](const std::shared_ptr<exchange>& ex) { follow_job(ex, *jobs); });
}

}  // namespace muse::http
