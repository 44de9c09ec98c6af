#include "tools/bench/bench_result.hpp"

#include <cstdio>

namespace muse::bench {
namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string row(const std::string& name, const std::string& value) {
  std::string line = "  " + name;
  if (line.size() < 24) line.resize(24, ' ');
  return line + value + "\n";
}

}  // namespace

uint64_t tally::failed() const {
  uint64_t total = connect_errors + connection_errors + timeouts + protocol_errors;
  for (const auto& [status, count] : by_status) total += count;
  return total;
}

void tally::merge(const tally& other) {
  ok += other.ok;
  ok_in_window += other.ok_in_window;
  for (const auto& [status, count] : other.by_status) by_status[status] += count;
  connect_errors += other.connect_errors;
  connection_errors += other.connection_errors;
  timeouts += other.timeouts;
  protocol_errors += other.protocol_errors;
  warmup_requests += other.warmup_requests;
  latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(), other.latencies_ms.end());
  if (first_error.empty()) first_error = other.first_error;
}

bench_result make_result(tally counts, double elapsed_s, int images_per_request) {
  bench_result result;
  result.latency = summarize(counts.latencies_ms);
  result.counts = std::move(counts);
  result.elapsed_s = elapsed_s;
  result.images_per_request = images_per_request;
  return result;
}

nlohmann::json to_json(const bench_result& r, const bench_options& options) {
  nlohmann::json by_status = nlohmann::json::object();
  for (const auto& [status, count] : r.counts.by_status) by_status[std::to_string(status)] = count;
  const auto& l = r.latency;
  return {
      {"tool", "muse-bench"},
      {"settings", settings_json(options)},
      {"requests",
       {{"measured", r.counts.measured()},
        {"ok", r.counts.ok},
        {"ok_in_window", r.counts.ok_in_window},
        {"failed", r.counts.failed()},
        {"warmup", r.counts.warmup_requests}}},
      {"errors",
       {{"by_status", by_status},
        {"connect", r.counts.connect_errors},
        {"connection", r.counts.connection_errors},
        {"timeout", r.counts.timeouts},
        {"protocol", r.counts.protocol_errors},
        {"first", r.counts.first_error}}},
      {"elapsed_s", r.elapsed_s},
      {"interrupted", r.interrupted},
      {"throughput", {{"requests_per_s", r.requests_per_s()}, {"images_per_s", r.images_per_s()}}},
      {"latency_ms",
       {{"count", l.count},
        {"min", l.min},
        {"mean", l.mean},
        {"p50", l.p50},
        {"p90", l.p90},
        {"p95", l.p95},
        {"p99", l.p99},
        {"max", l.max}}}};
}

std::string format_table(const bench_result& r, const bench_options& o) {
  std::string out = "muse-bench: " + std::string(to_string(o.api)) + " api at " + o.url + ", ";
  out += o.open_loop()
             ? "open loop at " + fixed(*o.rate, 1) + " requests/s"
             : "closed loop with " + std::to_string(o.users) + (o.users == 1 ? " user" : " users");
  if (!o.label.empty()) out += " (" + o.label + ")";
  out += "\n";
  out += row("requests ok", std::to_string(r.counts.ok) + " of " +
                                std::to_string(r.counts.measured()) + " measured (" +
                                std::to_string(r.counts.warmup_requests) + " in warmup)");
  for (const auto& [status, count] : r.counts.by_status)
    out += row("status " + std::to_string(status), std::to_string(count));
  if (r.counts.connect_errors)
    out += row("connect errors", std::to_string(r.counts.connect_errors));
  if (r.counts.connection_errors)
    out += row("connection errors", std::to_string(r.counts.connection_errors));
  if (r.counts.timeouts) out += row("timeouts", std::to_string(r.counts.timeouts));
  if (r.counts.protocol_errors)
    out += row("protocol errors", std::to_string(r.counts.protocol_errors));
  if (!r.counts.first_error.empty()) out += row("first error", r.counts.first_error.substr(0, 160));
  out += row("elapsed", fixed(r.elapsed_s, 3) + " s" + (r.interrupted ? " (interrupted)" : ""));
  out += row("throughput", fixed(r.requests_per_s(), 2) + " requests/s, " +
                               fixed(r.images_per_s(), 2) + " images/s");
  const auto& l = r.latency;
  out += row("latency ms", "p50 " + fixed(l.p50, 2) + "  p90 " + fixed(l.p90, 2) + "  p95 " +
                               fixed(l.p95, 2) + "  p99 " + fixed(l.p99, 2));
  out +=
      row("", "max " + fixed(l.max, 2) + "  mean " + fixed(l.mean, 2) + "  min " + fixed(l.min, 2));
  return out;
}

}  // namespace muse::bench
