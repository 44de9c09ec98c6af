#pragma once
// Typed reads of one JSON object of the config file. Each read names its key (so that the rest
// can be reported as unknown), checks type and range, and leaves the field at its default when
// anything is wrong; every problem goes to the problem_list with the key's path.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cluster_config/problems.hpp"

namespace muse::config::detail {

// "string \"8080\"": a value's JSON type and (shortened) text, for messages.
std::string describe(const nlohmann::json& value);

template <class Number>
std::string format_number(Number value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

class object_reader {
 public:
  using json = nlohmann::json;

  // object may be null (the section is absent): every read then keeps its default.
  object_reader(problem_list& problems, const json* object, std::string path,
                std::string schema_path);

  std::string path_of(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  bool present(const std::string& key) const {
    return object_ != nullptr && object_->contains(key);
  }

  // Each read returns whether it stored a value (false: absent, or a problem was reported).
  template <class Int>
  bool integer(const std::string& key, Int& field, int64_t min, int64_t max) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_number_integer()) return wrong_type(key, "an integer", *value);
    bool too_big =
        value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
    int64_t number = too_big ? 0 : value->get<int64_t>();
    if (too_big || number < min || number > max) {
      problems_.add(path_of(key), "must be " + std::to_string(min) + ".." + std::to_string(max) +
                                      ", got " + value->dump());
      return false;
    }
    field = static_cast<Int>(number);
    return true;
  }

  template <class Real>
  bool number(const std::string& key, Real& field, double min, double max) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_number()) return wrong_type(key, "a number", *value);
    double number = value->get<double>();
    if (number < min || number > max) {
      problems_.add(path_of(key), "must be " + format_number(min) + ".." + format_number(max) +
                                      ", got " + value->dump());
      return false;
    }
    field = static_cast<Real>(number);
    return true;
  }

  bool boolean(const std::string& key, bool& field);
  bool string(const std::string& key, std::string& field, bool allow_empty = false);
  bool choice(const std::string& key, std::string& field, const std::vector<std::string>& allowed);
  // The NAME of an environment variable that holds a secret; "" turns the feature off.
  bool env_name(const std::string& key, std::string& field);
  // An http(s):// URL with a host, held without trailing slashes (paths are appended to it).
  bool url(const std::string& key, std::string& field);
  bool string_list(const std::string& key, std::vector<std::string>& field);

  // A nested object or array; nullptr when absent or of another type (the latter reported).
  const json* object(const std::string& key);
  const json* array(const std::string& key);
  // Reports "<path>: required: <why>" when the key is absent; true when it is present.
  bool required(const std::string& key, const std::string& why);
  // Declares a key that the caller reads by hand (cluster.tls: an object or null).
  const json* raw(const std::string& key) { return find(key); }

  // Hands the keys no read asked for to the problem_list as unknown.
  void finish();

 private:
  const json* find(const std::string& key);
  bool wrong_type(const std::string& key, const std::string& expected, const json& value);

  problem_list& problems_;
  const json* object_;
  std::string path_;
  known_section& section_;
};

}  // namespace muse::config::detail
