#pragma once
// Asynchronous generation jobs: each job is one gateway order whose state (queued, running with
// step n of N, done with images, failed, cancelled) is kept after the order ends, for a retention
// time, so clients can poll it, follow it as server-sent events or list it. A job belongs to who
// created it (a fingerprint of their API key), and may carry a webhook whose delivery state it
// shows. Knows nothing of RESTinio, so it is tested on its own. Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/gateway.hpp"
#include "http/webhook_delivery.hpp"

namespace muse::http {

enum class job_status { queued, running, done, failed, cancelled };
const char* to_string(job_status status);
// The status of that name ("done"), if one has it.
std::optional<job_status> job_status_named(const std::string& name);

struct job_error {
  int status = 500;
  std::string code;
  std::string message;
};

// Where a job's result is posted when it ends, and how that went.
struct job_webhook {
  std::string url;
  webhook_state state = webhook_state::pending;
  int attempts = 0;
};

// Who created a job and what it asked for beyond its order.
struct job_origin {
  // The creator's key fingerprint (access.hpp); "" when the server has no API keys.
  std::string owner;
  std::string webhook_url;  // "" when none
};

struct job_snapshot {
  std::string id;
  std::string owner;      // never shown: whose it is (job_origin)
  int64_t created_s = 0;  // unix seconds
  job_status status = job_status::queued;
  int step = 0;
  int total = 0;
  // While queued: 1 for the job that starts next, counting this server's queued jobs in the order
  // they were created; 0 otherwise.
  int queue_position = 0;
  // Queued for a model with no worker ready (one scaled to zero): "loading model", until the
  // first step.
  std::string waiting_for;
  // While running, for a job that asked for live previews: each image's latest, a small PNG at the
  // latent's size ("" until its first); `new_previews` when the change that made this snapshot
  // brought one.
  std::vector<std::string> previews;
  bool new_previews = false;
  std::vector<actors::generated_image> images;  // when done
  std::optional<job_error> error;               // when failed or cancelled
  double queue_ms = 0, inference_ms = 0, total_ms = 0;
  std::optional<job_webhook> webhook;

  bool finished() const {
    return status == job_status::done || status == job_status::failed ||
           status == job_status::cancelled;
  }
  // {id, status, created, progress: {step, total, waiting_for?}, queue_position? (while queued),
  // images?: [{png_base64, seed}], error?, timings?, webhook?: {url, state, attempts}}.
  // `with_images` false leaves the PNGs out (progress events and lists stay small); with them, a
  // running job's previews are in too.
  nlohmann::json to_json(bool with_images) const;
  // A progress event's data: {step, total, previews?: ["data:image/png;base64,..." | null]},
  // the previews only when new.
  nlohmann::json progress_json() const;
};

// Called on every change of a job (its queue position included), from the thread that changed it;
// `finished` snapshots are the last a listener gets.
using job_listener = std::function<void(const job_snapshot&)>;

class job_store {
 public:
  using clock = std::chrono::steady_clock;

  // Finished jobs are forgotten `retention` after they finished; at most `max_jobs` are kept
  // (creating one more fails while every kept job is still unfinished).
  job_store(std::chrono::seconds retention, size_t max_jobs);

  // A new queued job with `total` steps (waiting_for: see job_snapshot), its webhook pending when
  // it has one; false when the store is full of unfinished jobs.
  bool create(const std::string& id, int total, std::string waiting_for = "",
              job_origin origin = {});
  std::optional<job_snapshot> find(const std::string& id);
  // `owner`'s jobs, newest first, at most `limit`, only those in `status` when given.
  std::vector<job_snapshot> list(const std::string& owner, std::optional<job_status> status,
                                 size_t limit);
  // Gateway progress: the job runs, `step` of `total` done, with its latest previews. Ignored
  // once finished.
  void progress(const std::string& id, const actors::order_progress& progress);
  // The gateway's outcome: done, failed or cancelled.
  void finish(const std::string& id, const actors::generate_outcome& outcome);
  // The webhook's delivery: its state after `attempts`. Ignored for a job without one, or gone.
  void webhook_progress(const std::string& id, webhook_state state, int attempts);
  // Forgets a finished job; false when there is none or it is not finished.
  bool forget(const std::string& id);

  // Calls `listener` with the current snapshot now and then on every change until the job is
  // finished. Returns false (and calls nothing) for an unknown job.
  bool subscribe(const std::string& id, job_listener listener);

  size_t size();

 private:
  struct job {
    uint64_t sequence = 0;  // creation order, for queue positions
    job_snapshot snapshot;
    clock::time_point finished_at;
    std::vector<job_listener> listeners;
  };
  void sweep(clock::time_point now);               // with mutex_ held
  job_snapshot snapshot_of(const job& j) const;    // with mutex_ held: the position filled in
  std::vector<uint64_t> queued_sequences() const;  // with mutex_ held: ascending
  // Calls the listeners of `j` and, when `left_queue` (j was queued and is no longer), of every
  // job still queued, whose positions moved up. Unlocks `lock`.
  void notify(job& j, bool left_queue, std::unique_lock<std::mutex>& lock);

  uint64_t next_sequence_ = 0;

  std::mutex mutex_;
  std::map<std::string, job> jobs_;
  std::chrono::seconds retention_;
  size_t max_jobs_;
};

}  // namespace muse::http
