#include "tools/bench/bench_options.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <utility>

namespace muse::bench {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

uint64_t parse_unsigned(const std::string& flag, const std::string& text, uint64_t min,
                        uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    throw usage_error(flag + " wants a whole number, got '" + text + "'");
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE || value < min || value > max)
    throw usage_error(flag + " must be " + std::to_string(min) + ".." + std::to_string(max) +
                      ", got " + text);
  return value;
}

double parse_positive(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value) || value <= 0)
    throw usage_error(flag + " wants a positive number, got '" + text + "'");
  return value;
}

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw usage_error("--prompts-file: cannot read '" + path + "'");
  std::vector<std::string> prompts;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty()) prompts.push_back(line);
  }
  if (prompts.empty())
    throw usage_error("--prompts-file: '" + path + "' has no prompt (one per line)");
  return prompts;
}

void check_size(const std::string& size) {
  const auto x = size.find('x');
  if (x == std::string::npos) throw usage_error("--size wants WIDTHxHEIGHT, got '" + size + "'");
  parse_unsigned("--size width", size.substr(0, x), 1, 16384);
  parse_unsigned("--size height", size.substr(x + 1), 1, 16384);
}

std::pair<std::string, std::string> parse_header(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0)
    throw usage_error("--header wants 'Name: value', got '" + text + "'");
  std::string name = trim(text.substr(0, colon));
  std::string value = trim(text.substr(colon + 1));
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos ||
      value.find_first_of("\r\n") != std::string::npos)
    throw usage_error("--header '" + text + "' is not a valid HTTP header");
  // These frame the request and the connection; muse-bench sets them itself.
  std::string lowered = name;
  for (auto& c : lowered) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const char* framing : {"host", "content-length", "transfer-encoding", "connection"})
    if (lowered == framing) throw usage_error("--header: muse-bench sets " + name + " itself");
  return {name, value};
}

// Everything the chosen route cannot carry is refused rather than silently dropped.
void check_consistency(const bench_options& o, bool users_given) {
  if (o.open_loop() && users_given)
    throw usage_error("--users is the closed loop and --rate the open loop: give one of them");
  if (!o.requests && !o.duration_s)
    throw usage_error("give --requests N and/or --duration D to bound the run");
  for (const auto& quality : o.qualities)
    if (o.api != api_kind::openai && quality != "fast" && quality != "quality")
      throw usage_error(std::string("--quality for --api ") + to_string(o.api) +
                        " is fast or quality, got '" + quality + "'");
  if (o.api == api_kind::muse) {
    if (o.steps)
      throw usage_error("--steps: the muse route has no steps (use --quality fast|quality)");
    if (o.images != 1) throw usage_error("--n: the muse route makes one image per request");
    if (o.size) throw usage_error("--size: the muse route has no size");
    if (o.seed) throw usage_error("--seed: the muse route has no seed");
  }
  if (o.api == api_kind::openai) {
    if (o.steps) throw usage_error("--steps: the openai route has no steps (use --quality)");
    if (o.seed) throw usage_error("--seed: the openai route has no seed");
  }
}

}  // namespace

const char* to_string(api_kind api) {
  switch (api) {
    case api_kind::native:
      return "native";
    case api_kind::muse:
      return "muse";
    case api_kind::openai:
      return "openai";
  }
  return "native";
}

double parse_duration_s(const std::string& text) {
  struct unit {
    const char* suffix;
    double seconds;
  };
  static const unit units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
  std::string number = text;
  double scale = 1;
  for (const auto& u : units) {
    const std::string suffix = u.suffix;
    if (text.size() > suffix.size() &&
        text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
      number = text.substr(0, text.size() - suffix.size());
      scale = u.seconds;
      break;
    }
  }
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || !std::isfinite(value) || value < 0 ||
      number.find_first_not_of("0123456789.") != std::string::npos)
    throw usage_error("'" + text + "' is not a duration (like 30s, 250ms, 2m)");
  return value * scale;
}

http_target parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, 8, "https://") == 0)
    throw usage_error("--url: https is not supported; measure the server over plain http");
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw usage_error("--url must start with http://, got '" + url + "'");
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  http_target target;
  target.path_prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!target.path_prefix.empty() && target.path_prefix.back() == '/')
    target.path_prefix.pop_back();
  if (target.path_prefix.find_first_of("?# ") != std::string::npos)
    throw usage_error("--url: only a path prefix may follow the host, got '" + url + "'");
  if (authority.empty()) throw usage_error("--url has no host: '" + url + "'");
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos)
      throw usage_error("--url: unclosed IPv6 bracket in '" + url + "'");
    target.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw usage_error("--url: bad port in '" + url + "'");
      target.port = uint16_t(parse_unsigned("--url port", after.substr(1), 1, 65535));
    }
    return target;
  }
  const auto colon = authority.rfind(':');
  target.host = authority.substr(0, colon);
  if (colon != std::string::npos)
    target.port = uint16_t(parse_unsigned("--url port", authority.substr(colon + 1), 1, 65535));
  else
    target.port = 80;
  if (target.host.empty()) throw usage_error("--url has no host: '" + url + "'");
  return target;
}

bench_options parse_options(const std::vector<std::string>& args) {
  bench_options o;
  bool users_given = false;
  bool prompt_given = false;
  size_t i = 0;
  std::optional<std::string> inline_value;  // from --flag=value
  auto value = [&](const std::string& flag) -> std::string {
    if (inline_value) return *std::exchange(inline_value, std::nullopt);
    if (i + 1 >= args.size()) throw usage_error(flag + " needs a value");
    return args[++i];
  };
  using setter = std::function<void(const std::string&)>;
  const std::map<std::string, setter> with_value = {
      {"--url",
       [&](const std::string& f) {
         o.url = value(f);
         o.target = parse_url(o.url);
       }},
      {"--api",
       [&](const std::string& f) {
         const std::string v = value(f);
         if (v == "native")
           o.api = api_kind::native;
         else if (v == "muse")
           o.api = api_kind::muse;
         else if (v == "openai")
           o.api = api_kind::openai;
         else
           throw usage_error("--api is native, muse or openai, got '" + v + "'");
       }},
      {"--users",
       [&](const std::string& f) {
         o.users = int(parse_unsigned(f, value(f), 1, 1000000));
         users_given = true;
       }},
      {"--rate", [&](const std::string& f) { o.rate = parse_positive(f, value(f)); }},
      {"--max-connections",
       [&](const std::string& f) {
         o.max_connections = int(parse_unsigned(f, value(f), 1, 1000000));
       }},
      {"--requests",
       [&](const std::string& f) {
         o.requests = parse_unsigned(f, value(f), 1, uint64_t(1) << 40);
       }},
      {"--duration",
       [&](const std::string& f) {
         o.duration_s = parse_duration_s(value(f));
         if (*o.duration_s <= 0) throw usage_error("--duration must be above zero");
       }},
      {"--warmup", [&](const std::string& f) { o.warmup_s = parse_duration_s(value(f)); }},
      {"--prompt",
       [&](const std::string& f) {
         if (!prompt_given) o.prompts.clear();
         prompt_given = true;
         const std::string v = value(f);
         if (trim(v).empty()) throw usage_error("--prompt is empty");
         o.prompts.push_back(v);
       }},
      {"--prompts-file", [&](const std::string& f) { o.prompts_file = value(f); }},
      {"--quality", [&](const std::string& f) { o.qualities.push_back(value(f)); }},
      {"--steps",
       [&](const std::string& f) { o.steps = int(parse_unsigned(f, value(f), 1, 1000)); }},
      {"--n", [&](const std::string& f) { o.images = int(parse_unsigned(f, value(f), 1, 1000)); }},
      {"--size",
       [&](const std::string& f) {
         o.size = value(f);
         check_size(*o.size);
       }},
      {"--seed",
       [&](const std::string& f) {
         o.seed = parse_unsigned(f, value(f), 0, (uint64_t(1) << 53) - 1);
       }},
      {"--header", [&](const std::string& f) { o.headers.push_back(parse_header(value(f))); }},
      {"--timeout",
       [&](const std::string& f) {
         o.timeout_s = parse_duration_s(value(f));
         if (o.timeout_s <= 0) throw usage_error("--timeout must be above zero");
       }},
      {"--threads",
       [&](const std::string& f) { o.threads = int(parse_unsigned(f, value(f), 1, 256)); }},
      {"--label", [&](const std::string& f) { o.label = value(f); }},
      {"--json", [&](const std::string& f) { o.json_path = value(f); }},
      {"--progress",
       [&](const std::string& f) {
         o.progress_s = parse_duration_s(value(f));
         if (*o.progress_s <= 0) throw usage_error("--progress must be above zero");
       }},
  };
  for (; i < args.size(); ++i) {
    std::string flag = args[i];
    const auto eq = flag.find('=');
    if (flag.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag == "--help" || flag == "-h") {
      o.help = true;
      return o;
    }
    const auto it = with_value.find(flag);
    if (it == with_value.end()) throw usage_error("unknown option '" + flag + "' (see --help)");
    it->second(flag);
  }
  if (!o.prompts_file.empty()) {
    if (prompt_given) throw usage_error("give --prompt or --prompts-file, not both");
    o.prompts = read_prompts(o.prompts_file);
  }
  check_consistency(o, users_given);
  return o;
}

std::string usage_text() {
  return R"(muse-bench: load generator for the Muse HTTP API

usage: muse-bench [options] (--requests N | --duration D | both: the first reached ends the run)

target
  --url URL             server, http://HOST[:PORT][/PREFIX]        (default http://127.0.0.1:8080)
  --api KIND            native  POST /api/v1/generate {prompt, quality, steps, seed, n, width, height}
                        muse    POST /api/predict {prompt, high_quality}
                        openai  POST /v1/images/generations {prompt, n, size, response_format}
                                                                     (default native)
  --header 'K: V'       extra request header, e.g. 'Authorization: Bearer KEY' (repeatable)

load
  --users N             closed loop: N users, each sends its next request when the last returns,
                        one keep-alive connection per user                        (default 1)
  --rate R              open loop: R requests/s arriving on schedule whatever the responses;
                        latency counts from the scheduled arrival
  --max-connections N   open loop: connections opened at most; later arrivals wait
                        (default 10000, fewer when the open-file hard limit is lower)
  --requests N          measured requests (after the warmup)
  --duration D          measured time (after the warmup), e.g. 30s, 500ms, 2m
  --warmup D            time sending requests that are not measured            (default 0)
  --timeout D           per request, connect included                         (default 300s)
  --threads N           event-loop threads                                      (default 1)

request
  --prompt TEXT         prompt (repeatable: cycled)
  --prompts-file FILE   one prompt per line, cycled
  --quality Q           native/muse: fast or quality; openai: passed on as given; repeatable:
                        request k asks for the (k mod count)-th (--quality fast --quality
                        quality: a 50/50 mix, alternated)
  --steps N             native only
  --n N                 images per request (native, openai)                   (default 1)
  --size WxH            native: width and height; openai: size
  --seed S              native: request k asks for seed S+k*n (default: the server draws one)

output
  --label TEXT          name of this setting in plots (e.g. "batching on, 2 workers")
  --json FILE           write the result and the settings as one JSON object
  --progress D          print counts to stderr every D (e.g. 10s) during the run
  --help                this text

Exit status: 0 when at least one measured request succeeded, 1 when every one failed,
2 for a bad command line.
)";
}

nlohmann::json settings_json(const bench_options& o) {
  nlohmann::json s = {{"url", o.url},
                      {"api", to_string(o.api)},
                      {"mode", o.open_loop() ? "open" : "closed"},
                      {"warmup_s", o.warmup_s},
                      {"timeout_s", o.timeout_s},
                      {"threads", o.threads},
                      {"images_per_request", o.images},
                      {"prompts", o.prompts.size()},
                      {"label", o.label}};
  if (o.open_loop()) {
    s["rate"] = *o.rate;
    s["max_connections"] =
        o.max_connections ? nlohmann::json(*o.max_connections) : nlohmann::json("auto");
  } else {
    s["users"] = o.users;
  }
  s["requests"] = o.requests ? nlohmann::json(*o.requests) : nlohmann::json(nullptr);
  s["duration_s"] = o.duration_s ? nlohmann::json(*o.duration_s) : nlohmann::json(nullptr);
  if (!o.prompts_file.empty())
    s["prompts_file"] = o.prompts_file;
  else
    s["prompt"] = o.prompts.front();
  if (o.qualities.size() == 1) s["quality"] = o.qualities.front();
  if (o.qualities.size() > 1) s["quality"] = o.qualities;
  if (o.steps) s["steps"] = *o.steps;
  if (o.size) s["size"] = *o.size;
  if (o.seed) s["seed"] = *o.seed;
  nlohmann::json header_names = nlohmann::json::array();
  for (const auto& h : o.headers) header_names.push_back(h.first);  // values may be secrets
  s["headers"] = header_names;
  return s;
}

}  // namespace muse::bench
