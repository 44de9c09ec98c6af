#include "http/stats_json.hpp"

#include <string>

namespace muse::http {
using nlohmann::json;

json limits_json(const actors::model_limits& l) {
  return {{"min_size", l.min_size},
          {"max_size", l.max_size},
          {"size_multiple", l.size_multiple},
          {"default_width", l.default_width},
          {"default_height", l.default_height},
          {"max_pixels", l.max_pixels},
          {"memory_budget_mb", l.memory_budget_mb},
          {"max_steps", l.max_steps},
          {"schedulers", l.schedulers}};
}

namespace {

json latency_json(const actors::latency_summary& l) {
  return {{"p50", l.p50}, {"p95", l.p95}, {"p99", l.p99}, {"count", l.count}};
}

json queue_json(const actors::queue_figures& q) {
  return {{"depth", q.depth},
          {"max", q.max},
          {"keys", q.keys},
          {"arrivals_per_s", q.arrivals_per_s},
          {"arrivals_total", q.arrivals_total},
          {"batcher_depth", q.batcher_depth},
          {"balancer_backlog", q.balancer_backlog},
          {"batcher_depth_by_model", q.batcher_depth_by_model},
          {"arrivals_by_model", q.arrivals_by_model}};
}

json workers_json(const actors::worker_pool_figures& pool) {
  json list = json::array();
  for (const auto& w : pool.list)
    list.push_back({{"id", w.id},
                    {"model", w.model},
                    {"node", w.node},
                    {"device", w.device},
                    {"state", w.state},
                    {"in_flight", w.in_flight},
                    {"batches_done", w.batches_done},
                    {"images_done", w.images_done},
                    {"mean_batch_size", w.mean_batch_size},
                    {"steps_done", w.steps_done},
                    {"steps_saved", w.steps_saved},
                    {"model_calls", w.model_calls},
                    {"starts", w.starts},
                    {"images_per_s", w.images_per_s},
                    {"busy_s", w.busy_s},
                    {"image_steps", w.image_steps},
                    {"calls_by_rows", w.calls_by_rows},
                    {"busy_s_by_rows", w.busy_s_by_rows}});
  return {{"ready", pool.ready},
          {"total", pool.total},
          {"capacity_per_worker", pool.capacity_per_worker},
          {"list", list}};
}

json decision_json(const actors::scaling_record& r) {
  const auto& in = r.inputs;
  return {{"model", r.model},
          {"action", actors::to_string(r.decision.action)},
          {"target", r.decision.target},
          {"reason", r.decision.reason},
          {"policy", r.policy},
          {"at_s", r.at_s},
          {"inputs",
           {{"arrivals_per_s", in.arrivals_per_s},
            {"queue_depth", in.queue_depth},
            {"in_flight", in.in_flight},
            {"workers", in.workers},
            {"images_per_s_per_worker", in.images_per_s_per_worker},
            {"full_batch_images_per_s", in.full_batch_images_per_s}}}};
}

json model_json(const actors::model_figures& m) {
  return {{"name", m.name},
          {"limits", m.limits ? limits_json(*m.limits) : json(nullptr)},
          {"ready_workers", m.ready_workers},
          {"workers", m.workers},
          {"queue_depth", m.queue_depth},
          {"arrivals_per_s", m.arrivals_per_s},
          {"in_flight", m.in_flight},
          {"orders", {{"completed", m.completed}, {"failed", m.failed}, {"images", m.images}}}};
}

json node_json(const actors::node_figures& n) {
  json node = {
      {"name", n.name}, {"state", n.state}, {"workers", n.workers}, {"since_s", n.since_s}};
  node["retry_at_s"] = n.state == "up" ? json(nullptr) : json(n.retry_at_s);
  return node;
}

}  // namespace

json stats_json(const actors::stats_snapshot& s) {
  json failed = json::object();
  for (auto f : actors::all_failures) failed[actors::to_string(f)] = s.orders.failed_count(f);
  json histogram = json::object();
  for (const auto& [size, count] : s.batches.size_histogram)
    histogram[std::to_string(size)] = count;
  json decisions = json::array();
  for (const auto& record : s.decisions) decisions.push_back(decision_json(record));
  json nodes = json::array();
  for (const auto& node : s.nodes) nodes.push_back(node_json(node));
  json models = json::array();
  for (const auto& m : s.models) models.push_back(model_json(m));
  json model = nullptr;
  if (s.model) model = {{"name", s.model->name}, {"limits", limits_json(s.model->limits)}};
  return {{"uptime_s", s.uptime_s},
          {"ready", s.ready},
          {"model", model},
          {"models", models},
          {"queue", s.queue ? queue_json(*s.queue) : json(nullptr)},
          {"orders",
           {{"accepted", s.orders.accepted},
            {"completed", s.orders.completed},
            {"failed", failed},
            {"open", s.orders.open}}},
          {"batches",
           {{"done", s.batches.done},
            {"images", s.batches.images},
            {"mean_size", s.batches.mean_size},
            {"size_histogram", histogram}}},
          {"latency_ms",
           {{"queue", latency_json(s.latency_ms.queue)},
            {"inference", latency_json(s.latency_ms.inference)},
            {"total", latency_json(s.latency_ms.total)}}},
          {"workers", s.workers ? workers_json(*s.workers) : json(nullptr)},
          {"scaling", {{"decisions", decisions}}},
          {"nodes", nodes}};
}

json stats_json(const actors::stats_reply& reply) {
  if (reply.snapshot) return stats_json(*reply.snapshot);
  return {{"ready", reply.ready}, {"error", reply.error}};
}

}  // namespace muse::http
