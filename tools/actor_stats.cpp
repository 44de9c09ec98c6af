// actor-stats: the live figures of a running deployment, per node and per actor.
//
// It reads the gateway's HTTP GET /api/v1/stats rather than joining the CAF cluster: the stats
// actor already gathers one consistent snapshot from the batcher, the balancer and every worker
// (remote ones included), the HTTP port is the one operators can reach anyway (firewalls, TLS
// terminators), and the tool then needs neither the cluster's certificates nor a CAF build of
// the same version as the deployment.

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "cluster_config/config.hpp"

using nlohmann::json;

namespace {

const char* usage_text =
    "usage: actor-stats URL [--watch [--interval S] | --json] [--api-key-env VAR]\n"
    "\n"
    "  URL, --gateway URL   the gateway: the URL muse-node prints (http://HOST:PORT) or HOST:PORT\n"
    "                       (its gateway.host and gateway.http_port)\n"
    "  --api-key-env VAR    send the API key held by environment variable VAR (a gateway with\n"
    "                       auth.api_keys_env set answers 401 without one); never on the command\n"
    "                       line, where ps would show it\n"
    "  --watch              refresh in place until Ctrl-C, with message rates between refreshes\n"
    "  --interval S         seconds between refreshes with --watch, 0.1..3600 (default 2)\n"
    "  --json               print one machine-readable snapshot and exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 shown, 1 the gateway could not be read (the reason is printed), 2 bad usage.\n";

struct options {
  std::string gateway;  // http://HOST:PORT or https://HOST:PORT, no trailing slash
  bool api_key_given = false;
  std::string api_key_variable;
  bool watch = false;
  bool json_output = false;
  double interval_s = 2;
  std::string api_key;
};

struct usage_error {
  std::string message;
};

// "http://host:port/", "host:port" -> "http://host:port"; a path is refused (the tool reads
// /api/v1/stats from the gateway's root).
std::string gateway_url(std::string text) {
  std::string scheme = "http://";
  for (const char* known : {"http://", "https://"})
    if (text.rfind(known, 0) == 0) {
      scheme = known;
      text = text.substr(scheme.size());
    }
  while (!text.empty() && text.back() == '/') text.pop_back();
  if (text.empty() || text.find('/') != std::string::npos || text.find(':') == std::string::npos)
    throw usage_error{"the gateway is http://HOST:PORT or HOST:PORT, got '" + text + "'"};
  return scheme + text;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take = [&] {
      if (has_value) return value;
      if (i + 1 >= argc) throw usage_error{arg + " needs a value"};
      return std::string(argv[++i]);
    };
    if (arg == "--gateway")
      o.gateway = gateway_url(take());
    else if (arg.rfind('-', 0) != 0 && o.gateway.empty())
      o.gateway = gateway_url(arg);
    else if (arg == "--watch")
      o.watch = true;
    else if (arg == "--json")
      o.json_output = true;
    else if (arg == "--api-key-env") {
      auto name = take();
      auto key = muse::config::secret_from_env(name);
      if (!key || key->empty()) throw usage_error{"environment variable " + name + " is not set"};
      o.api_key = *key;
      o.api_key_given = true;
      o.api_key_variable = name;
    } else if (arg == "--interval") {
      try {
        o.interval_s = std::stod(take());
      } catch (const std::exception&) {
        throw usage_error{"--interval needs a number of seconds"};
      }
      if (o.interval_s < 0.1 || o.interval_s > 3600) throw usage_error{"--interval: 0.1..3600"};
    } else if (arg == "--help" || arg == "-h")
      throw usage_error{""};
    else
      throw usage_error{"unknown argument '" + std::string(argv[i]) + "'"};
  }
  if (o.gateway.empty()) throw usage_error{"the gateway's URL is required"};
  if (o.watch && o.json_output) throw usage_error{"--watch and --json exclude each other"};
  return o;
}

// GET /api/v1/stats; throws with curl's or the server's reason, and what to do about a 401.
json fetch(const options& o) {
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("cannot start libcurl");
  std::string body;
  const std::string url = o.gateway + "/api/v1/stats";
  const std::string& api_key = o.api_key;
  auto write = +[](char* data, size_t size, size_t count, void* out) -> size_t {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  struct curl_slist* headers = nullptr;
  if (!api_key.empty()) {
    headers = curl_slist_append(headers, ("X-API-Key: " + api_key).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) throw std::runtime_error(url + ": " + curl_easy_strerror(code));
  if (status == 401 && !o.api_key_given)
    throw std::runtime_error(url + ": HTTP 401: the gateway asks for an API key (its config's " +
                             "auth.api_keys_env): put one of its keys in an environment " +
                             "variable and pass --api-key-env VARIABLE");
  if (status == 401)
    throw std::runtime_error(url + ": HTTP 401: the gateway does not accept the key in " +
                             o.api_key_variable + " (one of the keys its auth.api_keys_env " +
                             "variable holds is needed)");
  if (status != 200) throw std::runtime_error(url + ": HTTP " + std::to_string(status));
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object())
    throw std::runtime_error(url + ": the answer is not a JSON object");
  return parsed;
}

double number(const json& at, const std::string& pointer) {
  try {
    auto& value = at.at(json::json_pointer(pointer));
    return value.is_number() ? value.get<double>() : 0.0;
  } catch (const json::exception&) {
    return 0.0;
  }
}

std::string fixed(double value, int digits = 1) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// The snapshot regrouped per node and per actor; with `previous`, message rates between the two.
json summarise(const json& s, const json* previous, double seconds) {
  auto rate = [&](const std::string& pointer) -> json {
    if (previous == nullptr || seconds <= 0) return nullptr;
    return (number(s, pointer) - number(*previous, pointer)) / seconds;
  };
  auto count = [&](const std::string& pointer) { return static_cast<int64_t>(number(s, pointer)); };
  json gateway = {{"ingress",
                   {{"open_orders", count("/orders/open")},
                    {"accepted", count("/orders/accepted")},
                    {"completed", count("/orders/completed")},
                    {"orders_per_s", rate("/orders/accepted")}}},
                  {"batcher",
                   {{"queue_depth", count("/queue/batcher_depth")},
                    {"keys", count("/queue/keys")},
                    {"messages_per_s", number(s, "/queue/arrivals_per_s")}}},
                  {"balancer",
                   {{"backlog", count("/queue/balancer_backlog")},
                    {"batches_done", count("/batches/done")},
                    {"mean_batch_size", number(s, "/batches/mean_size")},
                    {"batches_per_s", rate("/batches/done")}}},
                  {"latency_ms",
                   {{"queue",
                     {{"p50", number(s, "/latency_ms/queue/p50")},
                      {"p95", number(s, "/latency_ms/queue/p95")}}},
                    {"inference",
                     {{"p50", number(s, "/latency_ms/inference/p50")},
                      {"p95", number(s, "/latency_ms/inference/p95")}}},
                    {"total",
                     {{"p50", number(s, "/latency_ms/total/p50")},
                      {"p95", number(s, "/latency_ms/total/p95")}}}}}};
  json nodes = json::object();
  if (s.contains("workers") && s["workers"].is_object())
    for (auto& w : s["workers"].value("list", json::array())) {
      auto node = w.value("node", std::string("?"));
      if (!nodes.contains(node)) nodes[node] = {{"workers", json::array()}, {"ready", 0}};
      if (w.value("state", "") == "ready")
        nodes[node]["ready"] = nodes[node]["ready"].get<int>() + 1;
      nodes[node]["workers"].push_back(w);
    }
  // The supervisor's view of each configured node, also of one that holds no worker now.
  for (auto& n : s.value("nodes", json::array())) {
    auto name = n.value("name", std::string("?"));
    if (!nodes.contains(name)) nodes[name] = {{"workers", json::array()}, {"ready", 0}};
    nodes[name]["state"] = n.value("state", "");
    nodes[name]["since_s"] = n.value("since_s", 0.0);
    if (n.contains("retry_at_s") && n["retry_at_s"].is_number())
      nodes[name]["retry_at_s"] = n["retry_at_s"];
  }
  // Each served model: its workers and traffic.
  json models = json::array();
  for (auto& m : s.value("models", json::array()))
    if (m.is_object())
      models.push_back({{"name", m.value("name", std::string("?"))},
                        {"ready_workers", m.value("ready_workers", 0)},
                        {"workers", m.value("workers", 0)},
                        {"queue_depth", m.value("queue_depth", 0)},
                        {"arrivals_per_s", m.value("arrivals_per_s", 0.0)},
                        {"in_flight", m.value("in_flight", 0)},
                        {"completed", m.contains("orders") ? m["orders"].value("completed", 0) : 0},
                        {"failed", m.contains("orders") ? m["orders"].value("failed", 0) : 0}});
  json decisions = json::array();
  if (s.contains("scaling") && s["scaling"].is_object())
    decisions = s["scaling"].value("decisions", json::array());
  while (decisions.size() > 5) decisions.erase(decisions.begin());
  return {{"uptime_s", number(s, "/uptime_s")},
          {"ready", s.value("ready", false)},
          {"workers", {{"ready", count("/workers/ready")}, {"total", count("/workers/total")}}},
          {"gateway", gateway},
          {"models", models},
          {"nodes", nodes},
          {"scaling", {{"last_decisions", decisions}}}};
}

void print(std::ostream& out, const std::string& address, const json& v) {
  auto& g = v["gateway"];
  out << "muse cluster at " << address << "   up " << fixed(v["uptime_s"].get<double>(), 0)
      << " s   workers " << v["workers"]["ready"] << " ready / " << v["workers"]["total"] << "\n\n";
  out << "gateway\n";
  out << "  ingress   open " << g["ingress"]["open_orders"] << "  accepted "
      << g["ingress"]["accepted"] << "  completed " << g["ingress"]["completed"];
  if (!g["ingress"]["orders_per_s"].is_null())
    out << "  " << fixed(g["ingress"]["orders_per_s"].get<double>()) << " orders/s";
  out << "\n  batcher   queue " << g["batcher"]["queue_depth"] << "  keys " << g["batcher"]["keys"]
      << "  " << fixed(g["batcher"]["messages_per_s"].get<double>()) << " msgs/s\n";
  out << "  balancer  backlog " << g["balancer"]["backlog"] << "  batches "
      << g["balancer"]["batches_done"] << "  mean batch "
      << fixed(g["balancer"]["mean_batch_size"].get<double>(), 2) << "\n";
  for (std::string kind : {"queue", "inference", "total"})
    out << "  latency " << std::setw(9) << std::left << kind << std::right << " p50 "
        << fixed(g["latency_ms"][kind]["p50"].get<double>()) << " ms  p95 "
        << fixed(g["latency_ms"][kind]["p95"].get<double>()) << " ms\n";
  for (auto& [name, node] : v["nodes"].items()) {
    out << "\nnode " << name;
    if (node.contains("state")) {
      double uptime = v["uptime_s"].get<double>();
      out << "  " << node["state"].get<std::string>() << " for "
          << fixed(uptime - node["since_s"].get<double>(), 1) << " s";
      if (node.contains("retry_at_s"))
        out << ", retry in " << fixed(std::max(0.0, node["retry_at_s"].get<double>() - uptime), 1)
            << " s";
    }
    out << "  (" << node["ready"] << " ready)\n";
    out << "  worker  model         device   state     in_flight  batches  images  mean_batch  "
           "images/s\n";
    for (auto& w : node["workers"])
      out << "  " << std::setw(6) << std::left << w.value("id", "") << "  " << std::setw(12)
          << w.value("model", "") << "  " << std::setw(7) << w.value("device", "") << "  "
          << std::setw(8) << w.value("state", "") << std::right << "  " << std::setw(9)
          << w.value("in_flight", 0) << "  " << std::setw(7) << w.value("batches_done", 0) << "  "
          << std::setw(6) << w.value("images_done", 0) << "  " << std::setw(10)
          << fixed(w.value("mean_batch_size", 0.0), 2) << "  " << std::setw(8)
          << fixed(w.value("images_per_s", 0.0), 2) << "\n";
  }
  if (v.contains("models") && !v["models"].empty()) {
    out << "\nmodel          workers  ready  queue  arrivals/s  in_flight  completed  failed\n";
    for (auto& m : v["models"])
      out << "  " << std::setw(12) << std::left << m.value("name", "") << std::right << "  "
          << std::setw(7) << m.value("workers", 0) << "  " << std::setw(5)
          << m.value("ready_workers", 0) << "  " << std::setw(5) << m.value("queue_depth", 0)
          << "  " << std::setw(10) << fixed(m.value("arrivals_per_s", 0.0), 2) << "  "
          << std::setw(9) << m.value("in_flight", 0) << "  " << std::setw(9)
          << m.value("completed", 0) << "  " << std::setw(6) << m.value("failed", 0) << "\n";
  }
  out << "\nscaling decisions (newest last)\n";
  if (v["scaling"]["last_decisions"].empty()) out << "  none yet\n";
  for (auto& d : v["scaling"]["last_decisions"])
    if (d.is_object())
      out << "  " << (d.value("model", "").empty() ? "" : d.value("model", "") + ": ")
          << d.value("action", "?") << " -> " << d.value("target", 0) << ": "
          << d.value("reason", "") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const usage_error& e) {
    if (e.message.empty()) {
      std::cout << usage_text;
      return 0;
    }
    std::cerr << "actor-stats: " << e.message << "\n\n" << usage_text;
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  try {
    if (!o.watch) {
      auto view = summarise(fetch(o), nullptr, 0);
      if (o.json_output)
        std::cout << view.dump(2) << std::endl;
      else
        print(std::cout, o.gateway, view);
      return 0;
    }
    json previous;
    auto previous_at = std::chrono::steady_clock::now();
    std::cout << "\x1b[2J";  // a clean screen to redraw in place
    for (;;) {
      std::ostringstream screen;
      try {
        auto snapshot = fetch(o);
        auto now = std::chrono::steady_clock::now();
        double seconds = std::chrono::duration<double>(now - previous_at).count();
        auto view = summarise(snapshot, previous.is_null() ? nullptr : &previous, seconds);
        print(screen, o.gateway, view);
        previous = std::move(snapshot);
        previous_at = now;
      } catch (const std::exception& e) {
        screen << "actor-stats: " << e.what() << " (retrying)\n";
      }
      // Home, draw, clear what the last frame left below.
      std::cout << "\x1b[H" << screen.str() << "\x1b[J" << std::flush;
      std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_s));
    }
  } catch (const std::exception& e) {
    std::cerr << "actor-stats: " << e.what() << std::endl;
    return 1;
  }
}
