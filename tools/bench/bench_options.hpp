#pragma once
// The command line of muse-bench: what to drive, how hard, for how long, and where the results go.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace muse::bench {

enum class api_kind { native, muse, openai };

// Wrong command lines; main prints the message and a pointer to --help.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct http_target {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string path_prefix;  // "" or "/something", prepended to the route
};

struct bench_options {
  std::string url = "http://127.0.0.1:8080";
  http_target target;
  api_kind api = api_kind::native;

  int users = 1;               // closed loop: concurrent users, one connection each
  std::optional<double> rate;  // open loop: arrivals per second, set means open loop
  // Open loop: arrivals beyond this many in flight wait their turn. Unset: 10000, or fewer if the
  // open-file limit allows fewer.
  std::optional<int> max_connections;

  std::optional<uint64_t> requests;  // measured requests, after the warmup
  std::optional<double> duration_s;  // measured time, after the warmup
  double warmup_s = 0;

  std::vector<std::string> prompts = {"a lighthouse on a cliff at dawn, watercolor"};
  std::string prompts_file;
  // Repeatable: request k asks for qualities[k % size] (a Fast/Quality mix); empty = not sent.
  std::vector<std::string> qualities;
  std::optional<int> steps;
  int images = 1;                   // images per request (`n`)
  std::optional<std::string> size;  // "WxH"
  std::optional<uint64_t> seed;     // request k asks for seed + k * images
  std::vector<std::pair<std::string, std::string>> headers;

  double timeout_s = 300;
  int threads = 1;
  std::string label;
  std::string json_path;
  std::optional<double> progress_s;  // a progress line on stderr this often
  bool help = false;

  bool open_loop() const { return rate.has_value(); }
};

// Throws usage_error naming the argument at fault. Reads --prompts-file.
bench_options parse_options(const std::vector<std::string>& args);

std::string usage_text();

// "30s", "250ms", "2m" or plain seconds.
double parse_duration_s(const std::string& text);

http_target parse_url(const std::string& url);

const char* to_string(api_kind api);

// The settings as recorded in the JSON result, so a plot can say what each line was.
nlohmann::json settings_json(const bench_options& options);

}  // namespace muse::bench
