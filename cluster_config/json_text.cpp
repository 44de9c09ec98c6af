#include "cluster_config/json_text.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "cluster_config/config.hpp"

namespace muse::config::detail {
namespace {

using json = nlohmann::json;

class duplicate_key_finder {
 public:
  explicit duplicate_key_finder(problem_list& problems) : problems_(problems) {}

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        note_child();
        frames_.push_back({true, {}, {}, 0});
        break;
      case json::parse_event_t::array_start:
        note_child();
        frames_.push_back({false, {}, {}, 0});
        break;
      case json::parse_event_t::key: {
        auto& frame = frames_.back();
        frame.key = parsed.get<std::string>();
        if (!frame.keys.insert(frame.key).second)
          problems_.add(path(),
                        "duplicate key (the later value would silently replace the "
                        "earlier one)");
        break;
      }
      case json::parse_event_t::value:
        note_child();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
    }
    return true;
  }

 private:
  struct frame {
    bool is_object;
    std::set<std::string> keys;
    std::string key;
    size_t children;
  };

  void note_child() {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().children;
  }

  std::string path() const {
    std::string out;
    for (const auto& f : frames_) {
      if (f.is_object)
        out += (out.empty() ? "" : ".") + f.key;
      else
        out += "[" + std::to_string(f.children == 0 ? 0 : f.children - 1) + "]";
    }
    return out;
  }

  problem_list& problems_;
  std::vector<frame> frames_;
};

std::string text_location(const std::string& text, size_t byte, const std::string& source) {
  size_t line = 1, column = 1;
  size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n')
      ++line, column = 1;
    else
      ++column;
  }
  return (source.empty() ? std::string("<config>") : source) + ":" + std::to_string(line) + ":" +
         std::to_string(column);
}

}  // namespace

json parse_json_with_comments(const std::string& text, const std::string& source,
                              problem_list& problems) {
  duplicate_key_finder finder(problems);
  json::parser_callback_t callback = [&finder](int depth, json::parse_event_t event, json& parsed) {
    return finder(depth, event, parsed);
  };
  try {
    return json::parse(text, callback, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& error) {
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line L, column C: why".
    std::string why = error.what();
    size_t column = why.find("column ");
    size_t colon = column == std::string::npos ? std::string::npos : why.find(": ", column);
    if (colon != std::string::npos) why = why.substr(colon + 2);
    throw config_error(text_location(text, error.byte, source), "invalid JSON: " + why);
  } catch (const json::out_of_range&) {
    // nlohmann's 406: a number past a double's range. It tells no position, and its text quotes
    // the whole number, so it is not passed on.
    throw config_error(source.empty() ? std::string("<config>") : source,
                       "invalid JSON: a number is too large");
  }
}

}  // namespace muse::config::detail
