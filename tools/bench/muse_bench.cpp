// muse-bench: drives the Muse HTTP API in a closed or open loop and reports throughput and
// latency (see tools/bench/README.md).

#include <fstream>
#include <iostream>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/bench_result.hpp"
#include "tools/bench/load_runner.hpp"

int main(int argc, char** argv) {
  using namespace muse::bench;
  bench_options options;
  try {
    options = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const usage_error& e) {
    std::cerr << "muse-bench: " << e.what() << "\n(muse-bench --help lists the options)\n";
    return 2;
  }
  if (options.help) {
    std::cout << usage_text();
    return 0;
  }
  std::ofstream json_file;
  if (!options.json_path.empty()) {
    // Opened first, so a typo in the path fails before a long run rather than after it.
    json_file.open(options.json_path);
    if (!json_file) {
      std::cerr << "muse-bench: cannot write --json '" << options.json_path << "'\n";
      return 2;
    }
  }
  try {
    const bench_result result = run_load(options, true);
    std::cout << format_table(result, options) << std::flush;
    if (json_file.is_open()) {
      json_file << to_json(result, options).dump(2) << "\n";
      json_file.close();
      if (!json_file) {
        std::cerr << "muse-bench: writing '" << options.json_path << "' failed\n";
        return 1;
      }
    }
    if (result.all_failed()) {
      std::cerr << "muse-bench: every measured request failed\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "muse-bench: " << e.what() << "\n";
    return 1;
  }
}
