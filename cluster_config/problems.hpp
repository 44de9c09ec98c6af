#pragma once
// Problem collection for the config parser. It never stops at the first problem, so that one run
// of --check-config shows everything that is wrong with a file.

#include <deque>
#include <string>
#include <vector>

#include "cluster_config/closest_word.hpp"

namespace muse::config::detail {

struct problem {
  std::string path;
  std::string message;
};

// The keys one object of the file may hold; kept so that an unknown key can be matched against
// every section, not only its own ("max_batch_size" written under "model").
struct known_section {
  std::string path;
  std::string schema_path;  // "gpu_nodes[]" for every node, so suggestions read generically
  std::vector<std::string> keys;
};

class problem_list {
 public:
  void add(std::string path, std::string message) {
    problems_.push_back({std::move(path), std::move(message)});
  }
  bool empty() const { return problems_.empty(); }

  known_section& new_section(std::string path, std::string schema_path) {
    sections_.push_back({std::move(path), std::move(schema_path), {}});
    return sections_.back();
  }
  // Unknown keys are judged once every section has declared its keys.
  void note_unknown(std::string path, std::string key, const known_section& section) {
    unknowns_.push_back({std::move(path), std::move(key), &section});
  }
  void report_unknown_keys();

  // Throws one config_error: the first problem's path, then every problem on its own line.
  [[noreturn]] void raise() const;

 private:
  struct unknown_key {
    std::string path;
    std::string key;
    const known_section* section;
  };

  std::vector<problem> problems_;
  std::deque<known_section> sections_;  // deque: unknown_key keeps pointers into it
  std::vector<unknown_key> unknowns_;
};

std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace muse::config::detail
