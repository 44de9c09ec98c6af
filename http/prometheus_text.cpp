#include "http/prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace muse::http {
namespace {

using labels = std::vector<std::pair<std::string, std::string>>;

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as the same double: "0.025", not "0.025000000000000001".
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

class writer {
 public:
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name, const labels& l, double value) {
    out_ << name;
    if (!l.empty()) {
      out_ << '{';
      for (size_t i = 0; i < l.size(); ++i)
        out_ << (i ? "," : "") << l[i].first << "=\"" << escape_label(l[i].second) << '"';
      out_ << '}';
    }
    out_ << ' ' << number(value) << '\n';
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

void single(writer& w, const std::string& name, const char* type, const std::string& help,
            double value) {
  w.family(name, type, help);
  w.sample(name, {}, value);
}

void http_families(writer& w, const http_metrics::snapshot& http) {
  w.family("muse_http_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, count] : http.requests)
    w.sample("muse_http_requests_total",
             {{"route", key.first}, {"status", std::to_string(key.second)}}, double(count));
  w.family("muse_http_requests_in_flight", "gauge", "HTTP requests accepted and not yet answered.");
  w.sample("muse_http_requests_in_flight", {}, double(http.in_flight));
  single(w, "muse_http_rate_limited_total", "counter",
         "Requests refused by the per-client rate limit (gateway.rate_limit_per_s).",
         double(http.rate_limited));
  w.family("muse_webhook_deliveries_total", "counter",
           "Async jobs' webhook deliveries: ended delivered or failed, or an attempt to retry.");
  w.sample("muse_webhook_deliveries_total", {{"result", "delivered"}},
           double(http.webhooks_delivered));
  w.sample("muse_webhook_deliveries_total", {{"result", "failed"}}, double(http.webhooks_failed));
  w.sample("muse_webhook_deliveries_total", {{"result", "retried"}}, double(http.webhooks_retried));

  const auto& bounds = http_metrics::latency_buckets();
  w.family("muse_http_request_duration_seconds", "histogram",
           "Time from request to response, by route.");
  for (const auto& [route, h] : http.latency) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      std::string le = i < bounds.size() ? number(bounds[i]) : "+Inf";
      w.sample("muse_http_request_duration_seconds_bucket", {{"route", route}, {"le", le}},
               double(cumulative));
    }
    w.sample("muse_http_request_duration_seconds_sum", {{"route", route}}, h.sum_s);
    w.sample("muse_http_request_duration_seconds_count", {{"route", route}}, double(h.count));
  }
}

void order_families(writer& w, const actors::stats_snapshot& stats) {
  single(w, "muse_uptime_seconds", "gauge", "Seconds since the gateway started.", stats.uptime_s);
  single(w, "muse_ready", "gauge", "1 when at least one worker is ready.", stats.ready ? 1 : 0);
  if (stats.queue) {
    const auto& q = *stats.queue;
    single(w, "muse_queue_depth", "gauge", "Samples waiting in the batcher.", double(q.depth));
    single(w, "muse_queue_max", "gauge", "Bound of the batcher's queue.", double(q.max));
    single(w, "muse_queue_keys", "gauge", "Distinct batch keys waiting.", double(q.keys));
    single(w, "muse_queue_arrivals_per_second", "gauge", "Recent arrival rate into the batcher.",
           q.arrivals_per_s);
  }
  single(w, "muse_orders_accepted_total", "counter", "Orders accepted.",
         double(stats.orders.accepted));
  single(w, "muse_orders_completed_total", "counter", "Orders answered with images.",
         double(stats.orders.completed));
  w.family("muse_orders_failed_total", "counter", "Orders answered without images, by reason.");
  std::map<std::string, uint64_t> by_reason;  // by name, as the JSON lists them
  for (auto f : actors::all_failures)
    by_reason[actors::to_string(f)] = stats.orders.failed_count(f);
  for (const auto& [reason, count] : by_reason)
    w.sample("muse_orders_failed_total", {{"reason", reason}}, double(count));
  w.family("muse_order_latency_seconds", "gauge",
           "Recent order latency quantiles by phase (queue, inference, total).");
  const std::pair<const char*, const actors::latency_summary*> phases[] = {
      {"inference", &stats.latency_ms.inference},
      {"queue", &stats.latency_ms.queue},
      {"total", &stats.latency_ms.total}};
  for (const auto& [phase, q] : phases) {
    const std::pair<const char*, double> quantiles[] = {
        {"0.5", q->p50}, {"0.95", q->p95}, {"0.99", q->p99}};
    for (const auto& [quantile, ms] : quantiles)
      w.sample("muse_order_latency_seconds", {{"phase", phase}, {"quantile", quantile}},
               ms / 1000.0);
  }
}

void batch_families(writer& w, const actors::batch_figures& batches) {
  single(w, "muse_batches_total", "counter", "Batches run by the workers.", double(batches.done));
  w.family("muse_batch_size", "histogram", "Samples per batch run.");
  double cumulative = 0, sum = 0;
  for (const auto& [size, count] : batches.size_histogram) {
    cumulative += double(count);
    sum += double(size) * double(count);
    w.sample("muse_batch_size_bucket", {{"le", std::to_string(size)}}, cumulative);
  }
  w.sample("muse_batch_size_bucket", {{"le", "+Inf"}}, cumulative);
  w.sample("muse_batch_size_sum", {}, sum);
  w.sample("muse_batch_size_count", {}, cumulative);
}

void worker_families(writer& w, const actors::worker_pool_figures& pool) {
  single(w, "muse_workers_ready", "gauge", "Workers with a loaded model.", double(pool.ready));
  single(w, "muse_workers_total", "gauge", "Workers known to the supervisor.", double(pool.total));
  using figures = actors::worker_figures;
  struct per_worker {
    double (*value)(const figures&);
    const char* name;
    const char* type;
    const char* help;
  };
  static const per_worker families[] = {
      {[](const figures& f) { return double(f.in_flight); }, "muse_worker_in_flight", "gauge",
       "Samples the worker is running."},
      {[](const figures& f) { return double(f.batches_done); }, "muse_worker_batches_total",
       "counter", "Batches the worker ran."},
      {[](const figures& f) { return double(f.images_done); }, "muse_worker_images_total",
       "counter", "Images the worker made."},
      {[](const figures& f) { return double(f.steps_done); }, "muse_worker_steps_total", "counter",
       "Denoising steps the worker ran."},
      {[](const figures& f) { return double(f.steps_saved); }, "muse_worker_steps_saved_total",
       "counter", "Steps not run thanks to cancellation."},
      {[](const figures& f) { return f.busy_s; }, "muse_worker_busy_seconds_total", "counter",
       "Seconds the worker had a batch running."},
      {[](const figures& f) { return double(f.image_steps); }, "muse_worker_image_steps_total",
       "counter", "The step counts of the images the worker made, added up."},
      {[](const figures& f) { return f.images_per_s; }, "muse_worker_images_per_second", "gauge",
       "Recent throughput of the worker."},
  };
  auto identity = [](const figures& worker) {
    return labels{{"worker", worker.id},
                  {"node", worker.node},
                  {"device", worker.device},
                  {"model", worker.model}};
  };
  for (const auto& f : families) {
    w.family(f.name, f.type, f.help);
    for (const auto& worker : pool.list) w.sample(f.name, identity(worker), f.value(worker));
  }
  w.family("muse_worker_state", "gauge", "1 for the state each worker is in.");
  for (const auto& worker : pool.list) {
    labels l = identity(worker);
    l.emplace_back("state", worker.state);
    w.sample("muse_worker_state", l, 1);
  }
}

void model_families(writer& w, const actors::stats_snapshot& stats) {
  if (stats.models.empty()) return;
  using figures = actors::model_figures;
  struct per_model {
    double (*value)(const figures&);
    const char* name;
    const char* type;
    const char* help;
  };
  static const per_model families[] = {
      {[](const figures& f) { return double(f.ready_workers); }, "muse_model_workers_ready",
       "gauge", "Workers of the model with it loaded."},
      {[](const figures& f) { return double(f.workers); }, "muse_model_workers", "gauge",
       "Workers of the model in the balancer's list."},
      {[](const figures& f) { return double(f.queue_depth); }, "muse_model_queue_depth", "gauge",
       "Samples of the model waiting at the gateway."},
      {[](const figures& f) { return f.arrivals_per_s; }, "muse_model_arrivals_per_second", "gauge",
       "Samples of the model arriving per second (recent window)."},
      {[](const figures& f) { return double(f.in_flight); }, "muse_model_in_flight", "gauge",
       "Samples of the model running on workers."},
      {[](const figures& f) { return double(f.completed); }, "muse_model_orders_completed_total",
       "counter", "Orders for the model answered with images."},
      {[](const figures& f) { return double(f.failed); }, "muse_model_orders_failed_total",
       "counter", "Orders for the model answered with an error."},
      {[](const figures& f) { return double(f.images); }, "muse_model_images_total", "counter",
       "Images of the model delivered."},
  };
  for (const auto& f : families) {
    w.family(f.name, f.type, f.help);
    for (const auto& model : stats.models)
      w.sample(f.name, {{"model", model.name}}, f.value(model));
  }
}

void node_families(writer& w, const actors::stats_snapshot& stats) {
  if (stats.nodes.empty()) return;
  w.family("muse_node_state", "gauge",
           "1 for the state each GPU node is in (up, unreachable, backoff).");
  for (const auto& node : stats.nodes)
    w.sample("muse_node_state", {{"node", node.name}, {"state", node.state}}, 1);
  w.family("muse_node_state_seconds", "gauge", "Seconds each GPU node has been in its state.");
  for (const auto& node : stats.nodes)
    w.sample("muse_node_state_seconds", {{"node", node.name}}, stats.uptime_s - node.since_s);
  w.family("muse_node_workers", "gauge", "Workers the supervisor counts on each GPU node.");
  for (const auto& node : stats.nodes)
    w.sample("muse_node_workers", {{"node", node.name}}, double(node.workers));
}

}  // namespace

std::string render_prometheus(const actors::stats_reply& stats,
                              const http_metrics::snapshot& http) {
  writer w;
  http_families(w, http);
  if (stats.snapshot) {
    order_families(w, *stats.snapshot);
    batch_families(w, stats.snapshot->batches);
    if (stats.snapshot->workers) worker_families(w, *stats.snapshot->workers);
    model_families(w, *stats.snapshot);
    node_families(w, *stats.snapshot);
  } else {
    // No snapshot (the gateway shut down or did not answer): readiness is still known.
    single(w, "muse_ready", "gauge", "1 when at least one worker is ready.", stats.ready ? 1 : 0);
  }
  return w.text();
}

}  // namespace muse::http
