#include "http/jobs.hpp"

#include <algorithm>

#include "http/api_error.hpp"
#include "http/base64.hpp"

namespace muse::http {

const char* to_string(job_status status) {
  switch (status) {
    case job_status::queued:
      return "queued";
    case job_status::running:
      return "running";
    case job_status::done:
      return "done";
    case job_status::failed:
      return "failed";
    case job_status::cancelled:
      return "cancelled";
  }
  return "failed";
}

namespace {

// Each PNG as a data: URL, null where there is none yet.
nlohmann::json preview_urls(const std::vector<std::string>& pngs) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& png : pngs)
    list.push_back(png.empty() ? nlohmann::json(nullptr)
                               : nlohmann::json("data:image/png;base64," + base64_encode(png)));
  return list;
}

}  // namespace

std::optional<job_status> job_status_named(const std::string& name) {
  for (auto status : {job_status::queued, job_status::running, job_status::done, job_status::failed,
                      job_status::cancelled})
    if (name == to_string(status)) return status;
  return std::nullopt;
}

nlohmann::json job_snapshot::to_json(bool with_images) const {
  nlohmann::json out = {{"id", id},
                        {"status", to_string(status)},
                        {"created", created_s},
                        {"progress", {{"step", step}, {"total", total}}}};
  if (status == job_status::queued && queue_position > 0) out["queue_position"] = queue_position;
  if (with_images && status == job_status::running && !previews.empty())
    out["previews"] = preview_urls(previews);
  if (!waiting_for.empty()) out["progress"]["waiting_for"] = waiting_for;
  if (status == job_status::done) {
    nlohmann::json images = nlohmann::json::array();
    for (const auto& image : this->images) {
      nlohmann::json entry = {{"seed", image.seed}};
      if (with_images) entry["png_base64"] = base64_encode(image.png);
      images.push_back(std::move(entry));
    }
    out["images"] = std::move(images);
    out["timings"] = {
        {"queue_ms", queue_ms}, {"inference_ms", inference_ms}, {"total_ms", total_ms}};
  }
  if (error) out["error"] = {{"code", error->code}, {"message", error->message}};
  if (webhook)
    out["webhook"] = {{"url", webhook->url},
                      {"state", to_string(webhook->state)},
                      {"attempts", webhook->attempts}};
  return out;
}

nlohmann::json job_snapshot::progress_json() const {
  nlohmann::json out = {{"step", step}, {"total", total}};
  if (new_previews && !previews.empty()) out["previews"] = preview_urls(previews);
  return out;
}

job_store::job_store(std::chrono::seconds retention, size_t max_jobs)
    : retention_(retention), max_jobs_(max_jobs) {}

void job_store::sweep(clock::time_point now) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second.snapshot.finished() && now - it->second.finished_at >= retention_)
      it = jobs_.erase(it);
    else
      ++it;
  }
}

bool job_store::create(const std::string& id, int total, std::string waiting_for,
                       job_origin origin) {
  std::lock_guard<std::mutex> lock(mutex_);
  sweep(clock::now());
  if (jobs_.size() >= max_jobs_) {
    // Make room by dropping the oldest finished job; unfinished ones are never dropped.
    auto oldest = jobs_.end();
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it)
      if (it->second.snapshot.finished() &&
          (oldest == jobs_.end() || it->second.finished_at < oldest->second.finished_at))
        oldest = it;
    if (oldest == jobs_.end()) return false;
    jobs_.erase(oldest);
  }
  job j;
  j.sequence = next_sequence_++;
  j.snapshot.id = id;
  j.snapshot.total = total;
  j.snapshot.waiting_for = std::move(waiting_for);
  j.snapshot.owner = std::move(origin.owner);
  j.snapshot.created_s = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (!origin.webhook_url.empty()) j.snapshot.webhook = job_webhook{origin.webhook_url};
  jobs_.emplace(id, std::move(j));
  return true;
}

std::optional<job_snapshot> job_store::find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  sweep(clock::now());
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return snapshot_of(it->second);
}

std::vector<job_snapshot> job_store::list(const std::string& owner,
                                          std::optional<job_status> status, size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  sweep(clock::now());
  std::vector<const job*> mine;
  for (const auto& [id, j] : jobs_)
    if (j.snapshot.owner == owner && (!status || j.snapshot.status == *status)) mine.push_back(&j);
  std::sort(mine.begin(), mine.end(),
            [](const job* a, const job* b) { return a->sequence > b->sequence; });
  if (mine.size() > limit) mine.resize(limit);
  // Positions from one sorted list, not a count over every job for each one listed.
  const std::vector<uint64_t> queued = queued_sequences();
  std::vector<job_snapshot> out;
  out.reserve(mine.size());
  for (const job* j : mine) {
    out.push_back(j->snapshot);
    if (j->snapshot.status == job_status::queued)
      out.back().queue_position =
          int(std::lower_bound(queued.begin(), queued.end(), j->sequence) - queued.begin()) + 1;
  }
  return out;
}

std::vector<uint64_t> job_store::queued_sequences() const {
  std::vector<uint64_t> out;
  for (const auto& [id, j] : jobs_)
    if (j.snapshot.status == job_status::queued) out.push_back(j.sequence);
  std::sort(out.begin(), out.end());
  return out;
}

job_snapshot job_store::snapshot_of(const job& j) const {
  job_snapshot snapshot = j.snapshot;
  if (snapshot.status != job_status::queued) return snapshot;
  snapshot.queue_position = 1;
  for (const auto& [id, other] : jobs_)
    if (other.snapshot.status == job_status::queued && other.sequence < j.sequence)
      ++snapshot.queue_position;
  return snapshot;
}

void job_store::notify(job& j, bool left_queue, std::unique_lock<std::mutex>& lock) {
  // Listeners run outside the lock (they write to sockets); a finished job drops them after.
  std::vector<std::pair<job_snapshot, std::vector<job_listener>>> calls;
  calls.emplace_back(snapshot_of(j), j.listeners);
  if (j.snapshot.finished()) j.listeners.clear();
  if (left_queue)
    for (const auto& [id, other] : jobs_)
      if (other.snapshot.status == job_status::queued && other.sequence > j.sequence &&
          !other.listeners.empty())
        calls.emplace_back(snapshot_of(other), other.listeners);
  lock.unlock();
  for (auto& [snapshot, listeners] : calls)
    for (auto& listener : listeners) listener(snapshot);
}

void job_store::progress(const std::string& id, const actors::order_progress& progress) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.snapshot.finished()) return;
  job_snapshot& s = it->second.snapshot;
  // Samples of one order report separately; progress never goes backwards (a new preview at the
  // same step is news).
  const bool new_previews = !progress.previews.empty() && progress.previews != s.previews;
  if (s.status == job_status::running && progress.step <= s.step && progress.total == s.total &&
      !new_previews)
    return;
  const bool left_queue = s.status == job_status::queued;
  s.status = job_status::running;
  s.waiting_for.clear();
  if (progress.step > s.step || progress.total != s.total) s.step = progress.step;
  s.total = progress.total;
  s.new_previews = new_previews;
  if (new_previews) s.previews = progress.previews;
  notify(it->second, left_queue, lock);
}

void job_store::finish(const std::string& id, const actors::generate_outcome& outcome) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.snapshot.finished()) return;
  job_snapshot& s = it->second.snapshot;
  const bool left_queue = s.status == job_status::queued;
  it->second.finished_at = clock::now();
  s.previews.clear();
  s.new_previews = false;
  if (outcome.error) {
    s.status =
        *outcome.error == actors::failure::cancelled ? job_status::cancelled : job_status::failed;
    std::string message =
        outcome.message.empty() ? actors::to_string(*outcome.error) : outcome.message;
    api_error error = error_for(*outcome.error, message);
    s.error = job_error{error.status(), error.code(), error.what()};
  } else {
    s.status = job_status::done;
    s.images = outcome.images;
    // The total the job was created with stands: an image-to-image job counts the steps that run.
    if (outcome.steps > 0 && s.total <= 0) s.total = outcome.steps;
    s.step = s.total;
    s.queue_ms = outcome.queue_ms;
    s.inference_ms = outcome.inference_ms;
    s.total_ms = outcome.total_ms;
  }
  notify(it->second, left_queue, lock);
}

void job_store::webhook_progress(const std::string& id, webhook_state state, int attempts) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.snapshot.webhook) return;
  it->second.snapshot.webhook->state = state;
  it->second.snapshot.webhook->attempts = attempts;
}

bool job_store::forget(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.snapshot.finished()) return false;
  jobs_.erase(it);
  return true;
}

bool job_store::subscribe(const std::string& id, job_listener listener) {
  std::unique_lock<std::mutex> lock(mutex_);
  sweep(clock::now());
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  job_snapshot snapshot = snapshot_of(it->second);
  if (!snapshot.finished()) it->second.listeners.push_back(listener);
  lock.unlock();
  listener(snapshot);
  return true;
}

size_t job_store::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  sweep(clock::now());
  return jobs_.size();
}

}  // namespace muse::http
