#include "cluster_config/object_reader.hpp"

#include <algorithm>
#include <cctype>

namespace muse::config::detail {
namespace {

using json = nlohmann::json;

bool is_env_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// A long run of hex digits is what signing secrets look like; such a value is no variable name.
bool looks_like_secret_value(const std::string& value) {
  return value.size() >= 24 &&
         std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace

std::string describe(const json& value) {
  if (value.is_null()) return "null";
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return std::string(value.type_name()) + " " + text;
}

object_reader::object_reader(problem_list& problems, const json* object, std::string path,
                             std::string schema_path)
    : problems_(problems),
      object_(object),
      path_(std::move(path)),
      section_(problems.new_section(path_, std::move(schema_path))) {}

bool object_reader::boolean(const std::string& key, bool& field) {
  const json* value = find(key);
  if (value == nullptr) return false;
  if (!value->is_boolean()) return wrong_type(key, "true or false", *value);
  field = value->get<bool>();
  return true;
}

bool object_reader::string(const std::string& key, std::string& field, bool allow_empty) {
  const json* value = find(key);
  if (value == nullptr) return false;
  if (!value->is_string()) return wrong_type(key, "a string", *value);
  std::string text = value->get<std::string>();
  if (text.empty() && !allow_empty) {
    problems_.add(path_of(key), "must not be empty");
    return false;
  }
  field = std::move(text);
  return true;
}

bool object_reader::choice(const std::string& key, std::string& field,
                           const std::vector<std::string>& allowed) {
  std::string text = field;
  if (!string(key, text)) return false;
  if (std::find(allowed.begin(), allowed.end(), text) == allowed.end()) {
    std::string suggestion = closest(text, allowed);
    problems_.add(path_of(key),
                  "must be one of " + join(allowed, " | ") + ", got \"" + text + "\"" +
                      (suggestion.empty() ? "" : "; did you mean \"" + suggestion + "\"?"));
    return false;
  }
  field = std::move(text);
  return true;
}

bool object_reader::env_name(const std::string& key, std::string& field) {
  std::string text = field;
  if (!string(key, text, /*allow_empty=*/true)) return false;
  if (!text.empty() && (!is_env_name(text) || looks_like_secret_value(text))) {
    problems_.add(path_of(key),
                  "must name an environment variable (letters, digits and '_', not starting "
                  "with a digit) that holds the secret, not the secret itself");
    return false;
  }
  field = std::move(text);
  return true;
}

bool object_reader::url(const std::string& key, std::string& field) {
  std::string text = field;
  if (!string(key, text)) return false;
  if (text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0) {
    problems_.add(path_of(key), "must be an http:// or https:// URL, got \"" + text + "\"");
    return false;
  }
  // Paths are appended to it ("/api/v1/images/..."): held without trailing slashes, so no user
  // trims it again.
  const size_t host = text.find("//") + 2;
  const std::string as_written = text;
  while (text.size() > host && text.back() == '/') text.pop_back();
  if (text.size() == host || text[host] == '/') {
    problems_.add(path_of(key), "must name a host, got \"" + as_written + "\"");
    return false;
  }
  field = std::move(text);
  return true;
}

bool object_reader::string_list(const std::string& key, std::vector<std::string>& field) {
  const json* value = find(key);
  if (value == nullptr) return false;
  if (!value->is_array()) return wrong_type(key, "an array of strings", *value);
  std::vector<std::string> items;
  bool ok = true;
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (item.is_string() && !item.get<std::string>().empty()) {
      items.push_back(item.get<std::string>());
    } else {
      problems_.add(
          path_of(key) + "[" + std::to_string(i) + "]",
          item.is_string() ? "must not be empty" : "must be a string, got " + describe(item));
      ok = false;
    }
  }
  if (ok) field = std::move(items);
  return ok;
}

const json* object_reader::object(const std::string& key) {
  const json* value = find(key);
  if (value == nullptr) return nullptr;
  if (!value->is_object()) {
    wrong_type(key, "an object { ... }", *value);
    return nullptr;
  }
  return value;
}

const json* object_reader::array(const std::string& key) {
  const json* value = find(key);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) {
    wrong_type(key, "an array [ ... ]", *value);
    return nullptr;
  }
  return value;
}

bool object_reader::required(const std::string& key, const std::string& why) {
  if (find(key) != nullptr) return true;
  problems_.add(path_of(key), "required: " + why);
  return false;
}

void object_reader::finish() {
  if (object_ == nullptr) return;
  for (const auto& item : object_->items()) {
    const auto& known = section_.keys;
    if (std::find(known.begin(), known.end(), item.key()) == known.end())
      problems_.note_unknown(path_of(item.key()), item.key(), section_);
  }
}

const json* object_reader::find(const std::string& key) {
  section_.keys.push_back(key);
  if (object_ == nullptr) return nullptr;
  auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

bool object_reader::wrong_type(const std::string& key, const std::string& expected,
                               const json& value) {
  problems_.add(path_of(key), "must be " + expected + ", got " + describe(value));
  return false;
}

}  // namespace muse::config::detail
