#include "cluster_config/problems.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "cluster_config/config.hpp"

namespace muse::config {
namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool looks_like_secret_key(const std::string& key) {
  const std::string lowered = lowercase(key);
  if (ends_with(lowered, "_env")) return false;
  for (const char* word :
       {"secret", "token", "password", "passwd", "api_key", "apikey", "credential"})
    if (lowered.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  const std::string lowered = lowercase(word);
  for (const auto& candidate : candidates) {
    size_t distance = edit_distance(lowered, lowercase(candidate));
    if (distance < best_distance) best_distance = distance, best = candidate;
  }
  size_t tolerance = std::max<size_t>(2, word.size() / 3);
  if (best_distance <= tolerance) return best;
  // A shortened key ("max_body" for "max_body_bytes") is far in edits but plainly meant.
  if (lowered.size() >= 4)
    for (const auto& candidate : candidates)
      if (lowercase(candidate).rfind(lowered, 0) == 0) return candidate;
  return std::string();
}

namespace detail {

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

void problem_list::raise() const {
  std::string rest = problems_.front().message;
  for (size_t i = 1; i < problems_.size(); ++i)
    rest += "\n" + problems_[i].path + ": " + problems_[i].message;
  throw config_error(problems_.front().path, rest);
}

void problem_list::report_unknown_keys() {
  for (const auto& unknown : unknowns_) {
    const auto& local = unknown.section->keys;
    if (looks_like_secret_key(unknown.key)) {
      std::vector<std::string> env_keys;
      for (const auto& k : local)
        if (ends_with(k, "_env")) env_keys.push_back(k);
      std::string env_key = closest(unknown.key + "_env", env_keys);
      add(unknown.path,
          "secrets never go in the config file; put it in an environment variable and name that "
          "variable in " +
              (env_key.empty() ? std::string("a *_env key (auth.api_keys_env, "
                                             "slack.signing_secret_env, slack.bot_token_env)")
                               : "\"" + env_key + "\" (use the *_env variant)"));
      continue;
    }
    std::string suggestion = closest(unknown.key, local);
    if (!suggestion.empty()) {
      add(unknown.path, "unknown key; did you mean \"" + suggestion + "\"?");
      continue;
    }
    // Perhaps a known key in the wrong section.
    std::string elsewhere;
    for (const auto& section : sections_) {
      if (&section == unknown.section) continue;
      if (std::find(section.keys.begin(), section.keys.end(), unknown.key) != section.keys.end()) {
        elsewhere =
            section.schema_path.empty() ? unknown.key : section.schema_path + "." + unknown.key;
        break;
      }
    }
    if (!elsewhere.empty())
      add(unknown.path, "unknown key here; did you mean \"" + elsewhere + "\"?");
    else
      add(unknown.path, "unknown key; known keys here: " + join(local));
  }
  unknowns_.clear();
}

}  // namespace detail
}  // namespace muse::config
