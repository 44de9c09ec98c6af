#include "http/prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

namespace muse::http {
namespace {

using nlohmann::json;
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

// The value at a "/"-separated path of objects, or nullptr.
const json* at(const json& root, const std::string& path) {
  const json* node = &root;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (!node->is_object()) return nullptr;
    auto it = node->find(path.substr(start, end - start));
    if (it == node->end()) return nullptr;
    node = &*it;
    start = end + 1;
  }
  return node;
}

double as_number(const json& value) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  return value.is_number() ? value.get<double>() : std::nan("");
}

void single(writer& w, const json& stats, const std::string& path, const std::string& name,
            const char* type, const std::string& help) {
  const json* value = at(stats, path);
  if (!value || !(value->is_number() || value->is_boolean())) return;
  w.family(name, type, help);
  w.sample(name, {}, as_number(*value));
}

void http_families(writer& w, const http_metrics::snapshot& http) {
  w.family("muse_http_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, count] : http.requests)
    w.sample("muse_http_requests_total",
             {{"route", key.first}, {"status", std::to_string(key.second)}}, double(count));
  w.family("muse_http_requests_in_flight", "gauge", "HTTP requests accepted and not yet answered.");
  w.sample("muse_http_requests_in_flight", {}, double(http.in_flight));

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

void order_families(writer& w, const json& stats) {
  single(w, stats, "uptime_s", "muse_uptime_seconds", "gauge",
         "Seconds since the gateway started.");
  single(w, stats, "ready", "muse_ready", "gauge", "1 when at least one worker is ready.");
  single(w, stats, "queue/depth", "muse_queue_depth", "gauge", "Samples waiting in the batcher.");
  single(w, stats, "queue/max", "muse_queue_max", "gauge", "Bound of the batcher's queue.");
  single(w, stats, "queue/keys", "muse_queue_keys", "gauge", "Distinct batch keys waiting.");
  single(w, stats, "queue/arrivals_per_s", "muse_queue_arrivals_per_second", "gauge",
         "Recent arrival rate into the batcher.");
  single(w, stats, "orders/accepted", "muse_orders_accepted_total", "counter", "Orders accepted.");
  single(w, stats, "orders/completed", "muse_orders_completed_total", "counter",
         "Orders answered with images.");
  if (const json* failed = at(stats, "orders/failed"); failed && failed->is_object()) {
    w.family("muse_orders_failed_total", "counter", "Orders answered without images, by reason.");
    for (const auto& [reason, count] : failed->items())
      if (count.is_number())
        w.sample("muse_orders_failed_total", {{"reason", reason}}, as_number(count));
  }
  if (const json* latency = at(stats, "latency_ms"); latency && latency->is_object()) {
    w.family("muse_order_latency_seconds", "gauge",
             "Recent order latency quantiles by phase (queue, inference, total).");
    for (const auto& [phase, q] : latency->items()) {
      if (!q.is_object()) continue;
      for (const char* p : {"p50", "p95", "p99"}) {
        auto it = q.find(p);
        if (it == q.end() || !it->is_number()) continue;
        std::string quantile = std::string(p) == "p50"   ? "0.5"
                               : std::string(p) == "p95" ? "0.95"
                                                         : "0.99";
        w.sample("muse_order_latency_seconds", {{"phase", phase}, {"quantile", quantile}},
                 as_number(*it) / 1000.0);
      }
    }
  }
}

void batch_families(writer& w, const json& stats) {
  single(w, stats, "batches/done", "muse_batches_total", "counter", "Batches run by the workers.");
  const json* histogram = at(stats, "batches/size_histogram");
  if (!histogram || !histogram->is_object()) return;
  std::map<long, double> by_size;
  for (const auto& [size, count] : histogram->items()) {
    char* end = nullptr;
    long s = std::strtol(size.c_str(), &end, 10);
    if (end && *end == '\0' && count.is_number()) by_size[s] += as_number(count);
  }
  w.family("muse_batch_size", "histogram", "Samples per batch run.");
  double cumulative = 0, sum = 0;
  for (const auto& [size, count] : by_size) {
    cumulative += count;
    sum += double(size) * count;
    w.sample("muse_batch_size_bucket", {{"le", std::to_string(size)}}, cumulative);
  }
  w.sample("muse_batch_size_bucket", {{"le", "+Inf"}}, cumulative);
  w.sample("muse_batch_size_sum", {}, sum);
  w.sample("muse_batch_size_count", {}, cumulative);
}

void worker_families(writer& w, const json& stats) {
  single(w, stats, "workers/ready", "muse_workers_ready", "gauge", "Workers with a loaded model.");
  single(w, stats, "workers/total", "muse_workers_total", "gauge",
         "Workers known to the supervisor.");
  const json* list = at(stats, "workers/list");
  if (!list || !list->is_array()) return;
  struct per_worker {
    const char* key;
    const char* name;
    const char* type;
    const char* help;
  };
  static const per_worker families[] = {
      {"in_flight", "muse_worker_in_flight", "gauge", "Samples the worker is running."},
      {"batches_done", "muse_worker_batches_total", "counter", "Batches the worker ran."},
      {"images_done", "muse_worker_images_total", "counter", "Images the worker made."},
      {"steps_done", "muse_worker_steps_total", "counter", "Denoising steps the worker ran."},
      {"steps_saved", "muse_worker_steps_saved_total", "counter",
       "Steps not run thanks to cancellation."},
      {"images_per_s", "muse_worker_images_per_second", "gauge",
       "Recent throughput of the worker."},
  };
  auto identity = [](const json& worker) {
    labels l;
    for (const char* key : {"id", "node", "device"}) {
      auto it = worker.find(key);
      l.emplace_back(std::string(key) == "id" ? "worker" : key,
                     it != worker.end() && it->is_string() ? it->get<std::string>() : "");
    }
    return l;
  };
  for (const auto& f : families) {
    w.family(f.name, f.type, f.help);
    for (const auto& worker : *list) {
      if (!worker.is_object()) continue;
      auto it = worker.find(f.key);
      if (it != worker.end() && it->is_number()) w.sample(f.name, identity(worker), as_number(*it));
    }
  }
  w.family("muse_worker_state", "gauge", "1 for the state each worker is in.");
  for (const auto& worker : *list) {
    if (!worker.is_object()) continue;
    auto it = worker.find("state");
    if (it == worker.end() || !it->is_string()) continue;
    labels l = identity(worker);
    l.emplace_back("state", it->get<std::string>());
    w.sample("muse_worker_state", l, 1);
  }
}

}  // namespace

std::string render_prometheus(const json& stats, const http_metrics::snapshot& http) {
  writer w;
  http_families(w, http);
  order_families(w, stats);
  batch_families(w, stats);
  worker_families(w, stats);
  return w.text();
}

}  // namespace muse::http
